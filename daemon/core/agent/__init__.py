"""The agent loop: model turns, tool calls through the gate, compaction of long transcripts, and
``@file`` mentions.
"""


from ._compaction import (
    build_context,
    context_tokens,
    estimate_tokens,
    maybe_compact,
)
from ._loop import (
    Agent,
    AgentSettings,
    truncate_output,
)
from ._mentions import (
    expand_mentions,
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
