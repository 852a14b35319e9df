"""The agent loop: model turns, tool calls through the gate, compaction of long transcripts,
``@file`` mentions, the project's instruction files (AGENTS.md), and the settings one run is configured with (:class:`AgentSettings`).
"""


from ._compaction import (
    build_context,
    compact_now,
    context_tokens,
    estimate_tokens,
    maybe_compact,
)
from ._instructions import (
    MAX_INSTRUCTIONS_BYTES,
    InstructionPart,
    Instructions,
    project_instructions,
)
from ._loop import (
    Agent,
    system_prompt,
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
    "InstructionPart",
    "Instructions",
    "MAX_INSTRUCTIONS_BYTES",
    "build_context",
    "compact_now",
    "context_tokens",
    "estimate_tokens",
    "expand_mentions",
    "maybe_compact",
    "project_instructions",
    "system_prompt",
    "truncate_output",
]
