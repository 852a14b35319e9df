"""Checks the service makes before it acts: fail closed on a broken config (S2), say
where a misplaced config file should go (E9), and what is left to resume (S7)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..paths import Paths

__all__ = ["has_pending_work", "misplaced_config", "refuse_while_config_broken"]

#: What a daemon whose config.toml does not load still answers: enough to see why, to stop,
#: and to look at, answer or cancel a run already in flight (it keeps the config it began
#: with); nothing that starts work.
_SERVED_WITH_BROKEN_CONFIG = frozenset({
    "daemon/status", "daemon/shutdown", "config/get", "session/cancel", "session/get",
    "session/list", "session/subscribe", "approval/list", "approval/decide", "question/answer"})


def refuse_while_config_broken(name: str, handler: Any,
                               error: Callable[[], ConfigError | None]) -> Any:
    """``handler``, answering ``error()`` instead while config.toml does not load (S2)."""
    if name in _SERVED_WITH_BROKEN_CONFIG:
        return handler

    async def guarded(params: Any, ctx: Any) -> Any:
        broken = error()
        if broken is not None:
            raise ConfigError(f"{broken.message} (fix the file; nothing runs until it loads)")
        return await handler(params, ctx)

    guarded.__name__ = getattr(handler, "__name__", name)
    return guarded


def misplaced_config(paths: Paths) -> list[str]:
    """E9: a config.toml at the top of CODETETHER_HOME is not read; say where it goes."""
    home = os.environ.get("CODETETHER_HOME")
    stray = Path(home).expanduser() / "config.toml" if home else None
    if stray is None or not stray.is_file() or stray.resolve() == paths.config_file.resolve():
        return []
    return [f"{stray} is not read: with CODETETHER_HOME set, the config file is {paths.config_file}"]


def has_pending_work(messages: list[Any]) -> bool:
    """An interrupted run left something to do: a prompt or tool results the model has
    not answered, or tool calls with no result (S7)."""
    if not messages:
        return False
    last = messages[-1]
    if last.role != "assistant":
        return True
    return bool(last.tool_calls)
