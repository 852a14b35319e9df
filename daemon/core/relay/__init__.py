"""The ``/autochat`` relay: specialists passing a baton over the bus, checkpointed after
every step so a resume after kill -9 goes on in exact order, nothing lost and no tool
side effect repeated (see :mod:`._relay` for how).

    Relay            drives one relay from its checkpoint to its end
    TurnRunner       what runs a profile's turn (the API layer's, over sessions)
    RelayStore       one atomically replaced, fsynced checkpoint file per relay
    plan_profiles    one model call picks the specialists; defaults when unusable
"""

from ._profiles import (
    DEFAULT_PROFILES,
    ChatModel,
    ProfileError,
    default_profiles,
    parse_profiles,
    plan_profiles,
    planning_prompt,
)
from ._relay import (
    Relay,
    RelayHooks,
    ToolSeen,
    TurnOutcome,
    TurnRunner,
    converged,
    turn_prompt,
)
from ._store import (
    RelayStore,
    new_relay_id,
)

__all__ = [
    "DEFAULT_PROFILES",
    "ChatModel",
    "ProfileError",
    "Relay",
    "RelayHooks",
    "RelayStore",
    "ToolSeen",
    "TurnOutcome",
    "TurnRunner",
    "converged",
    "default_profiles",
    "new_relay_id",
    "parse_profiles",
    "plan_profiles",
    "planning_prompt",
    "turn_prompt",
]
