"""The server's options: one fully-defaulted struct from ``initializationOptions``."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["Options", "parse_options"]


class Options(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    model: str | None = None
    approval_mode: Literal["ask", "auto", "plan"] = "ask"
    codetether_home: str | None = None
    auto_start_daemon: bool = True
    #: None: use window/showMessageRequest unless the client renders approvals itself.
    use_show_message_request: bool | None = None
    #: Save the files of an applied agent edit before the agent goes on, so its next
    #: bash/test run sees them on disk (E6).
    save_after_apply: bool = True


def parse_options(raw: Any) -> tuple[Options, str | None]:
    """Options from the client; bad input falls back to defaults with a message."""
    if raw in (None, {}):
        return Options(), None
    try:
        return msgspec.convert(raw, Options), None
    except msgspec.ValidationError as exc:
        return Options(), f"codetether: ignoring initializationOptions ({exc}); using defaults"
