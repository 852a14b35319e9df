"""Model providers: the contract (:mod:`.base`), the table of known providers and the one
list of provider APIs, the registry that builds them, and the resolver that turns
``provider/model`` names into live, credentialed instances.

Vendor modules (``openai``, ``anthropic``, ``gemini``, ``bedrock``, ``copilot``,
``embedded``, and ``scripted``, the test double re-exported by
:mod:`codetether.daemon.testing`) are imported by :func:`create_provider` on demand,
keeping this package cheap to import.
"""

from ._models import (
    ModelResolver,
    ResolvedModel,
    check_model,
    suggest_model,
)
from .base import (
    CompletionRequest,
    ModelInfo,
    ProgressReport,
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
    PROVIDER_APIS,
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
    "ModelResolver",
    "PROVIDER_APIS",
    "ProgressReport",
    "Provider",
    "ProviderCredentials",
    "ProviderEvent",
    "ProviderInfo",
    "ResolvedModel",
    "StreamDone",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallReady",
    "ToolSpec",
    "UsageReport",
    "check_model",
    "create_provider",
    "needs_credentials",
    "provider_info",
    "split_model_ref",
    "suggest_model",
]
