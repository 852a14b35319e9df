"""a2a_delegate: hand work to another A2A agent and bring back its answer.

Not ``read_only``: the message leaves the machine and the peer acts on it, so the
approval policy decides, matching on the peer (its configured name or its URL), like
webfetch does on the URL. The peer's errors come back as :class:`ToolFailure` naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Annotated

import msgspec
from msgspec import Meta

from ...errors import CodetetherError, ToolFailure
from ..config import A2APeer
from .base import Tool, ToolContext, ToolResult

__all__ = ["A2ADelegateTool"]

Peers = Callable[[], Mapping[str, A2APeer]]


class A2ADelegateParams(msgspec.Struct, forbid_unknown_fields=True):
    peer: Annotated[str, Meta(min_length=1, description=(
        "A configured peer's name ([a2a.peers.<name>]) or the agent's http(s) URL."))]
    message: Annotated[str, Meta(min_length=1, description=(
        "The task for the peer, self-contained: it does not see this conversation."))]
    timeout: Annotated[int, Meta(ge=5, le=3600, description=(
        "Seconds to wait for the peer's answer (default 300)."))] = 300


class A2ADelegateTool(Tool):
    name = "a2a_delegate"
    description = (
        "Delegate a task to another AI agent over the A2A protocol and wait for its answer. "
        "Give a configured peer's name or the agent's URL and a self-contained message; the "
        "result is the peer's final answer (its artifacts and status message), or its question "
        "when it needs more input."
    )
    params = A2ADelegateParams

    def __init__(self, peers: Peers | None = None) -> None:
        self._peers = peers or _configured_peers

    def approval_subject(self, args: A2ADelegateParams) -> str:
        return args.peer

    async def run(self, args: A2ADelegateParams, ctx: ToolContext) -> ToolResult:
        from ..peers import delegate, resolve_peer  # here: an idle daemon need not load the room

        target = resolve_peer(args.peer, self._peers())
        who = target.name or target.url
        if target.token is None and target.name is not None:
            try:  # Vault: <path>/a2a-<name>, field "token"
                token = await _vault_token(target.name)
            except CodetetherError as exc:
                raise ToolFailure(f"a2a_delegate {who}: {exc.message}") from exc
            target = dataclasses.replace(target, token=token)
        try:
            answer = await delegate(target, args.message, timeout=args.timeout)
        except TimeoutError as exc:
            raise ToolFailure(f"a2a_delegate {who}: no answer within {args.timeout}s") from exc
        except CodetetherError as exc:
            raise ToolFailure(f"a2a_delegate {who}: {exc.message}") from exc
        state = answer.state.removeprefix("TASK_STATE_").lower().replace("_", "-")
        failed = state in ("failed", "rejected", "canceled")
        header = f"[{who} {state or 'answered'}]"
        return ToolResult(f"{header}\n{answer.text}" if answer.text else header, is_error=failed,
                          metadata={"peer": who, "url": target.url, "state": state,
                                    "task_id": answer.task_id, "context_id": answer.context_id})


async def _vault_token(name: str) -> str | None:
    """A configured peer's token from Vault (``[secrets]`` and ``VAULT_*`` say where)."""
    from ...paths import get_paths
    from ..config import load_config
    from ..secrets import SecretStore

    settings = load_config(get_paths().config_file).config.secrets
    return await SecretStore(settings).field(f"a2a-{name}", "token")


def _configured_peers() -> Mapping[str, A2APeer]:
    """``[a2a.peers]`` as config.toml says now (the registry's tools are built without
    the config; reading it here follows reloads)."""
    from ...paths import get_paths
    from ..config import load_config

    return load_config(get_paths().config_file).config.a2a.peers
