"""Idle daemon memory, and which heavy packages it has loaded [goal: VmRSS <= 50 MB].

VmRSS comes from /proc/<pid>/status after start, after a few status calls and
after the catalogue calls a client makes (models, tools, config, sessions), next
to a bare interpreter's. Loaded packages are read two ways, since we cannot
import into the daemon: native libraries mapped in /proc/<pid>/maps (catches
llama_cpp and aiohttp, not pure-Python hvac/httpx), and the import log of a
second daemon started with PYTHONPROFILEIMPORTTIME=1 (catches every module,
lazy imports included, for as long as that daemon runs).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ._util import (
    CLI,
    PYTHON,
    BenchResult,
    Daemon,
    ImportedModule,
    child_env,
    heading,
    parse_importtime,
    print_rows,
    temp_daemon,
)

NAME = "daemon_rss"
GOAL_MB = 50.0
WATCHED = ("llama_cpp", "hvac", "httpx", "aiohttp")
CATALOGUE = ("models/list", "tools/list", "config/get")


def run(quick: bool = False) -> BenchResult:
    result = BenchResult(NAME)
    readings: list[tuple[str, dict[str, float]]] = []
    bare = _bare_interpreter()
    readings.append(("bare `python` (for scale)", bare))
    with temp_daemon() as daemon:
        readings.append(("daemon after start", _memory(daemon.pid)))
        _status_calls(daemon)
        readings.append(("after 20 status calls (+3 CLI)", _memory(daemon.pid)))
        _catalogue_calls(daemon)
        readings.append(("after catalogue calls", _memory(daemon.pid)))
        mapped = _mapped_packages(daemon.pid)
    print_rows([[label, f"{m['VmRSS']:.1f}", f"{m['VmHWM']:.1f}", f"{m.get('RssAnon', 0):.1f}",
                 f"{m.get('RssFile', 0):.1f}", f"{m['Pss']:.1f}" if "Pss" in m else "-"]
                for label, m in readings],
               ["", "VmRSS MB", "VmHWM MB", "RssAnon", "RssFile", "Pss"])
    idle = readings[2][1]["VmRSS"]
    result.figure("daemon VmRSS after start", readings[1][1]["VmRSS"], "MB")
    result.figure("daemon VmRSS after status calls", idle, "MB", GOAL_MB)
    result.figure("daemon VmRSS after catalogue calls", readings[3][1]["VmRSS"], "MB")
    result.figure("bare interpreter VmRSS", bare["VmRSS"], "MB")

    with temp_daemon({"PYTHONPROFILEIMPORTTIME": "1"}) as daemon:
        _status_calls(daemon)
        _catalogue_calls(daemon)
        log = daemon.stdout_log.read_text(errors="replace")
    modules = {m.name: m for m in parse_importtime(log)}
    print(f"\nnative libraries mapped from site-packages: {', '.join(sorted(mapped)) or 'none'}")
    print(f"modules imported by the daemon (second daemon, import log): {len(modules)}")
    rows = []
    for pkg in WATCHED:
        in_maps = pkg in mapped
        in_log = pkg in modules
        via = _via(modules, pkg) if in_log else ""
        rows.append([pkg, "yes" if in_maps else "no", "yes" if in_log else "no", via])
        result.note(f"{pkg}: {'loaded' if in_maps or in_log else 'not loaded'} "
                    f"(maps {'yes' if in_maps else 'no'}, import log {'yes' if in_log else 'no'})"
                    + (f" via {via}" if via else ""))
    print_rows(rows, ["package", "native lib in maps", "in import log", "imported via"])
    result.figure("watched heavy packages loaded (of 4)",
                  sum(1 for r in rows if "yes" in r[1:3]), "", 0)

    third = _third_party(modules)
    top = sorted(third.items(), key=lambda kv: -kv[1][1])[: 8 if quick else 15]
    print("\nthird-party packages in the idle daemon, by import time (a proxy for their weight):")
    print_rows([[name, str(count), f"{us / 1e3:.1f}", _via(modules, name)] for name, (count, us) in top],
               ["package", "modules", "import ms", "imported via"])
    result.note("third-party packages loaded: " + ", ".join(
        f"{name} ({count} modules, {us / 1e3:.0f} ms, via {_via(modules, name)})"
        for name, (count, us) in top))
    return result


def _via(modules: dict[str, ImportedModule], name: str) -> str:
    """Who imported ``name``: another package (if so), then the nearest module of ours."""
    chain: list[str] = []
    mod = modules.get(name)
    root = name.split(".")[0]
    seen = set()
    while mod is not None and mod.parent and mod.parent not in seen:
        seen.add(mod.parent)
        parent_root = mod.parent.split(".")[0]
        if mod.parent.startswith("codetether."):
            chain.append(mod.parent.removeprefix("codetether.daemon."))
            break
        if parent_root != root and not chain:
            chain.append(parent_root)
        mod = modules.get(mod.parent)
    return " <- ".join(chain) or "(top level)"


def _status_calls(daemon: Daemon) -> None:
    from codetether.daemon.client import Client

    with Client(daemon.paths, autostart=False) as client:
        for _ in range(20):
            client.call("daemon/status")
    for _ in range(3):
        subprocess.run([CLI, "daemon", "status", "--json"], env=daemon.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _catalogue_calls(daemon: Daemon) -> None:
    from codetether.daemon.client import Client

    with Client(daemon.paths, autostart=False) as client:
        for method in CATALOGUE:
            client.call(method)
        client.call("session/list", {"limit": 10})


def _memory(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon, RssFile and (when readable) Pss, in MB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def _bare_interpreter() -> dict[str, float]:
    code = ("import re\nprint({k: int(v.split()[0]) / 1024 for k, v in re.findall("
            "r'^(VmRSS|VmHWM|RssAnon|RssFile):(.*)$', open('/proc/self/status').read(), re.M)})")
    out = subprocess.run([PYTHON, "-c", code], env=child_env(), capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.replace("'", '"'))


def _mapped_packages(pid: int) -> set[str]:
    """Top-level site-packages names with a file mapped into the process."""
    found: set[str] = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        path = parts[5] if len(parts) == 6 else ""
        if "/site-packages/" in path:
            top = path.split("/site-packages/", 1)[1].split("/", 1)[0]
            found.add(top.split(".")[0] if top.endswith(".so") else top)
    return {name[:-5] if name.endswith(".libs") else name for name in found}


def _third_party(modules: dict[str, ImportedModule]) -> dict[str, tuple[int, int]]:
    """Top-level non-stdlib, non-codetether packages -> (module count, root import us)."""
    out: dict[str, tuple[int, int]] = {}
    for name, mod in modules.items():
        root = name.split(".")[0]
        if root in sys.stdlib_module_names or root in ("codetether", "sitecustomize") \
                or root.startswith(("__editable__", "_distutils")):
            continue
        count, us = out.get(root, (0, 0))
        out[root] = (count + 1, us + (mod.cum_us if name == root else 0))
    return out


if __name__ == "__main__":
    heading(NAME)
    run()
