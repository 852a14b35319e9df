"""Model providers: the contract (:mod:`.base`) and the registry that builds them.

Vendor modules (``openai``, ``anthropic``, ``gemini``, ``bedrock``, ``copilot``,
``embedded``) are imported by :func:`create_provider` on demand, keeping this
package cheap to import.
"""

from .base import (
    CompletionRequest,
    ModelInfo,
    Provider,
    ProviderCredentials,
    ProviderEvent,
    StreamDone,
    TextDelta,
    ThinkingDelta,
    ToolCallReady,
    ToolSpec,
    UsageReport,
)
from .registry import (
    KNOWN_PROVIDERS,
    ProviderInfo,
    create_provider,
    needs_credentials,
    provider_info,
    split_model_ref,
)

__all__ = [
    "CompletionRequest",
    "KNOWN_PROVIDERS",
    "ModelInfo",
    "Provider",
    "ProviderCredentials",
    "ProviderEvent",
    "ProviderInfo",
    "StreamDone",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallReady",
    "ToolSpec",
    "UsageReport",
    "create_provider",
    "needs_credentials",
    "provider_info",
    "split_model_ref",
]
