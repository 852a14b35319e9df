"""Transitional: fail closed on a broken config (S2), until ``daemon/api/_guards.py`` holds it.

``misplaced_config`` now lives in :mod:`codetether.daemon.core.config` and ``has_pending_work``
in :mod:`codetether.daemon.core.sessions`; they are re-exported here only so the legacy
service keeps importing while it is split. Delete this module once nothing imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import ConfigError
from ..sessions import has_pending_work
from ._misplaced import misplaced_config

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
