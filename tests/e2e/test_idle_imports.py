"""What an idle ``codetether serve`` has imported: none of the packages it loads on first use.

Issue 9's idle-RSS goal: httpx alone (with the click, rich and pygments its ``__init__``
pulls in for its CLI) is ~10 MB and 160 modules, so each package below is imported by
the function that needs it, not at start. The daemon is asked nothing: it runs with
``PYTHONPROFILEIMPORTTIME=1``, whose log on stderr names every module it imports, and
the log is read once the listeners are up and a peer has fetched the agent card over
HTTP and gRPC. The tests that first use each deferred package are next to its module
(okr URL evidence: test_okr_measure; apply_patch: test_tools_patch; glob, list_dir and
the ignore rules: test_tools_fs / test_tools_search; webfetch's HTML: test_tools_web; the
built-in tools made on a registry's first use and the API domains loaded on their first
call: tests/unit/test_idle_imports.py and tests/unit/test_api.py, and ``peers/list``
through the daemon's socket below; swarm, bus, undo and the conveniences: their e2e tests).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from a2a.types import a2a_pb2, a2a_pb2_grpc

from .conftest import Home

TOKEN = "idle-imports-token-0123456789"

#: Loaded on first use only. A name matches the module and everything under it.
DEFERRED = (
    "httpx",  # okr URL evidence, webfetch/websearch, providers, peers
    "httpcore",
    "h11",
    "click",  # httpx's CLI: imported by httpx's __init__ when click is installed
    "rich",
    "pygments",
    "pathspec",  # glob, list_dir and the .gitignore walk
    "unidiff",  # apply_patch
    "html.parser",  # webfetch's HTML to text
) + tuple(f"codetether.daemon.core.tools.{m}" for m in (  # the built-in tools: on a run's first use
    "a2a_delegate", "batch", "codesearch", "edit", "fs", "listing", "patch", "search", "session_tools",
    "shell", "subagent", "web", "_html", "_ignore", "_langs", "_match", "_rg", "_shellsplit", "_stream",
    "_util",
)) + tuple(f"codetether.daemon.api.{m}" for m in (  # API domains: registered by name, loaded when called
    "agents", "bus", "cluster", "conveniences", "peers", "swarm", "undo", "_reverse",
)) + ("codetether.daemon.core.cluster", "codetether.daemon.core.peers")


@pytest.fixture
def served(home: Home) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any], Path]]:
    """The daemon of ``codetether serve`` on port 0 (HTTP and gRPC) with its import log in a file (a pipe
    would fill and block it), and the addresses it printed once every listener was bound."""
    home.script({"text": "never used"})
    log = home.root / "imports.log"
    env = {**home.env, "CODETETHER_AUTH_TOKEN": TOKEN, "PYTHONPROFILEIMPORTTIME": "1"}
    with log.open("w") as err:
        # What `codetether serve` execs, started directly: the log is then the daemon's alone
        # (not also what the CLI imported before its exec, which the daemon does not hold).
        proc = subprocess.Popen([sys.executable, "-m", "codetether.daemon", "serve", "--hostname", "127.0.0.1",
                                 "--port", "0", "--grpc-port", "0", "--json"], env=env,
                                cwd=home.workspace, text=True, stdout=subprocess.PIPE, stderr=err,
                                stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the handshake: every listener bound
        assert line, log.read_text(errors="replace")[-2000:]
        yield proc, json.loads(line), log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def imported(log: Path) -> set[str]:
    """Module names in a ``-X importtime`` log (``import time: self | cumulative | name``)."""
    names = set()
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            names.add(line.rsplit("|", 1)[-1].strip())
    return names


def deferred_in(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == d or n.startswith(d + ".") for d in DEFERRED))


async def test_an_idle_serve_has_not_imported_what_it_loads_on_first_use(served: Any, home: Home) -> None:
    proc, bound, log = served
    headers = {"Authorization": f"Bearer {TOKEN}", "A2A-Version": "1.0"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        card = (await http.get(bound["http_url"] + "/.well-known/agent-card.json")).json()
        assert card["name"]
        extended = (await http.post(bound["http_url"] + "/", json={
            "jsonrpc": "2.0", "id": 1, "method": "GetExtendedAgentCard", "params": {}})).json()
        assert extended["result"]["name"]
    async with grpc.aio.insecure_channel(bound["grpc_address"]) as channel:
        stubs: Any = a2a_pb2_grpc  # generated, untyped
        answer = await stubs.A2AServiceStub(channel).GetExtendedAgentCard(
            a2a_pb2.GetExtendedAgentCardRequest(),
            metadata=(("authorization", f"Bearer {TOKEN}"), ("a2a-version", "1.0")))
        assert answer.name

    assert proc.poll() is None
    names = imported(log)
    # The log is the daemon's: it did import the listeners and the API (stderr is line-buffered).
    assert {"aiohttp.web", "grpc", "codetether.daemon.api", "codetether.daemon.transports.grpc"} <= names
    assert deferred_in(names) == []

    # First use, through the daemon's socket: the domain loads and answers.
    assert home.json("peers") == []
    assert "codetether.daemon.api.peers" in imported(log)


def test_the_check_would_see_a_deferred_import(tmp_path: Path) -> None:
    """The same reading of the log, on a process that does import one of them."""
    log = tmp_path / "imports.log"
    with log.open("w") as err:
        subprocess.run([sys.executable, "-X", "importtime", "-c", "import unidiff"],
                       stderr=err, check=True, timeout=60)
    assert {"unidiff", "unidiff.patch"} <= set(deferred_in(imported(log)))
