"""The agent loop: model turns, tool calls through the gate, compaction of long transcripts,
``@file`` mentions, and the settings one run is configured with (:class:`AgentSettings`).
"""


from ._compaction import (
    build_context,
    context_tokens,
    estimate_tokens,
    maybe_compact,
)
from ._loop import (
    Agent,
    truncate_output,
)
from ._mentions import (
    expand_mentions,
)
from ._settings import (
    AgentSettings,
)

__all__ = [
    "Agent",
    "AgentSettings",
    "build_context",
    "context_tokens",
    "estimate_tokens",
    "expand_mentions",
    "maybe_compact",
    "truncate_output",
]
