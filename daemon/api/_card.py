"""The agent card: who this agent is, where it listens, what it can do, how to authenticate.

The public card (``/.well-known/agent-card.json``) says enough to call the agent; the
extended card (``GetExtendedAgentCard``, for an authenticated caller) adds the workspace
policy a caller may want before sending work. Both are clean A2A 1.0 cards (a card
mixing in 0.3 fields fails the TCK's card schema).
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import __version__
from ..core.config import A2ASection
from ..wire import a2a

__all__ = ["agent_card"]

_TEXT = ["text/plain"]
_IO = ["text/plain", "application/json"]

_SKILLS = [
    ("coding", "Write and change code",
     "Implements features, fixes bugs and refactors in its workspace, editing files and "
     "checking the result.", ["code", "edit", "refactor", "fix"],
     ["Add input validation to the signup handler", "Fix the failing test in tests/test_io.py"]),
    ("reading-code", "Read and explain code",
     "Searches and reads the workspace to answer questions about how the code works.",
     ["code", "search", "explain", "review"],
     ["Where is the retry policy configured?", "Review the changes in src/cache.py"]),
    ("running-commands", "Run commands",
     "Runs shell commands in the workspace (builds, tests, linters) within the server's "
     "approval policy.", ["shell", "build", "test"],
     ["Run the test suite and summarise the failures"]),
]


def _interfaces(endpoints: Mapping[str, str]) -> list[a2a.AgentInterface]:
    out = []
    if url := endpoints.get("http_url"):
        out.append(a2a.AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0"))
        out.append(a2a.AgentInterface(url=url, protocol_binding="HTTP+JSON", protocol_version="1.0"))
    if address := endpoints.get("grpc_address"):
        out.append(a2a.AgentInterface(url=address, protocol_binding="GRPC", protocol_version="1.0"))
    return out


def agent_card(settings: A2ASection, endpoints: Mapping[str, str], *, extended: bool = False,
               mode: str = "", workspace: str = "") -> a2a.AgentCard:
    """The card for ``settings`` served at ``endpoints`` (``http_url``, ``grpc_address``);
    ``extended`` adds the approval mode and workspace tasks run with."""
    description = settings.description
    skills = [a2a.AgentSkill(id=i, name=n, description=d, tags=t, examples=e, input_modes=_IO,
                             output_modes=_TEXT) for i, n, d, t, e in _SKILLS]
    if extended:
        description += (f" Tasks run in {workspace} with approval mode {mode!r}; a tool call the "
                        "policy would ask a human about is denied.")
    bearer = a2a.SecurityScheme(http_auth_security_scheme=a2a.HTTPAuthSecurityScheme(
        scheme="Bearer", description="The daemon's token: `codetether auth token` on its host."))
    return a2a.AgentCard(
        name=settings.name, description=description, version=__version__,
        supported_interfaces=_interfaces(endpoints),
        provider=a2a.AgentProvider(organization="codetether", url="https://github.com/codetether"),
        capabilities=a2a.AgentCapabilities(streaming=True, push_notifications=True,
                                           extended_agent_card=True),
        security_schemes={"bearer": bearer},
        security_requirements=[a2a.SecurityRequirement(schemes={"bearer": a2a.StringList()})],
        default_input_modes=_IO, default_output_modes=_TEXT, skills=skills)
