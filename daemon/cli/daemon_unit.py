"""``codetether daemon install|uninstall``: the daemon as a systemd user service.

``install`` writes ``~/.config/systemd/user/codetether.service`` (``$XDG_CONFIG_HOME``
honoured) running this interpreter's daemon, with this shell's ``PATH`` (the agent's tools
run git, rg, the user's compilers) and ``CODETETHER_HOME`` when set, then runs
``systemctl --user daemon-reload`` and ``enable --now`` when systemctl is there (else it
says what to run). It is a plain service, not socket-activated: the daemon makes and
guards its own socket (0700 directory, one daemon per socket). ``uninstall`` disables it
and removes the file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["UNIT_NAME", "cmd_install", "cmd_uninstall", "unit_path", "unit_text"]

UNIT_NAME = "codetether.service"


def unit_path(env: dict[str, str] | None = None) -> Path:
    """Where the user unit lives."""
    env = dict(os.environ) if env is None else env
    config = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or str(Path.home()), ".config")
    return Path(config) / "systemd" / "user" / UNIT_NAME


def _quote(value: str, *, command: bool = False) -> str:
    """A value for a systemd ``Environment=``/``ExecStart=`` word: quoted; ``%`` and ``\\``
    escaped, and ``$`` in a command (systemd expands it there). A control character (a
    newline would start a new directive) is refused."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise SystemExit(f"codetether daemon install: a value holds a control character: {value!r}")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    if command:
        escaped = escaped.replace("$", "$$")
    return f'"{escaped}"'


def unit_text(python: str | None = None, env: dict[str, str] | None = None) -> str:
    """The unit file's text."""
    env = dict(os.environ) if env is None else env
    python = python or sys.executable
    lines = [
        "# Written by `codetether daemon install`; `codetether daemon uninstall` removes it.",
        "[Unit]",
        "Description=codetether daemon (AI coding agent: sessions, tools, models)",
        "Documentation=https://github.com/codetether/codetether",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={_quote(python, command=True)} -m codetether.daemon",
        "Restart=on-failure",
        "RestartSec=2",
        # The daemon finishes runs and saves sessions on SIGTERM; give it the time to.
        "TimeoutStopSec=30",
    ]
    for name in ("PATH", "CODETETHER_HOME", "CODETETHER_MODELS", "XDG_RUNTIME_DIR"):
        if env.get(name):
            lines.append(f"Environment={_quote(f'{name}={env[name]}')}")
    lines += ["", "[Install]", "WantedBy=default.target", ""]
    return "\n".join(lines)


def _systemctl(*args: str) -> tuple[bool, str]:
    found = shutil.which("systemctl")
    if found is None:
        return False, "systemctl not found"
    done = subprocess.run([found, "--user", *args], capture_output=True, text=True, timeout=60)
    return done.returncode == 0, (done.stderr or done.stdout).strip()


def _say(as_json: bool, data: dict[str, Any], human: str) -> None:
    print(json.dumps(data, indent=2) if as_json else human)


def cmd_install(args: Any, _paths: Any) -> int:
    """Write the unit; enable and start it when systemctl can."""
    path = unit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(unit_text())
    how = "systemctl --user daemon-reload && systemctl --user enable --now codetether.service"
    data: dict[str, Any] = {"unit": str(path), "enabled": False}
    if args.no_enable or shutil.which("systemctl") is None:
        why = "" if args.no_enable else "systemctl not found; "
        _say(args.json, {**data, "how": how}, f"wrote {path}\n{why}enable it with: {how}")
        return 0
    ok, detail = _systemctl("daemon-reload")
    if ok:
        ok, detail = _systemctl("enable", "--now", UNIT_NAME)
    if not ok:
        _say(args.json, {**data, "error": detail, "how": how},
             f"wrote {path}\nenabling it failed: {detail}\n(no user session bus? log in to a "
             f"systemd session, then: {how})")
        return 1
    _say(args.json, {**data, "enabled": True}, f"wrote {path}; enabled and started (systemctl --user "
                                                "status codetether)")
    return 0


def cmd_uninstall(args: Any, _paths: Any) -> int:
    """Disable and stop the service (when systemctl can), and remove the unit."""
    path = unit_path()
    if not path.exists():
        _say(args.json, {"unit": str(path), "removed": False}, f"not installed ({path} does not exist)")
        return 0
    note = ""
    if shutil.which("systemctl") is not None:
        ok, detail = _systemctl("disable", "--now", UNIT_NAME)
        if not ok:
            note = f"\n(systemctl --user disable --now failed: {detail})"
    path.unlink()
    if shutil.which("systemctl") is not None:
        _systemctl("daemon-reload")
    _say(args.json, {"unit": str(path), "removed": True}, f"removed {path}{note}")
    return 0
