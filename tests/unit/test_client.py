"""The one socket client (``codetether.daemon.client``): both halves start a real daemon
through the same connect-or-start path, with the environment they are given, and two
clients that start one at the same moment end up talking to the same daemon."""

from __future__ import annotations

import asyncio
import os
import pwd
import select
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon import client as client_pkg
from codetether.daemon.client import AsyncClient, Client, DaemonUnavailable
from codetether.daemon.errors import Unavailable
from codetether.daemon.paths import Paths, get_paths


class Daemonless:
    """A CODETETHER_HOME with no daemon yet; whatever daemon the test starts in it is
    shut down at the end (found by its pid file, waited for through a pidfd)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "CODETETHER_"))}
        self.env["CODETETHER_HOME"] = str(root)
        self.paths: Paths = get_paths(self.env)

    def pid(self) -> int | None:
        try:
            return int((self.root / "run" / "daemon.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        try:
            os.kill(pid, 15)
            if not select.select([fd], [], [], 30)[0]:
                os.kill(pid, 9)
        finally:
            os.close(fd)


@pytest.fixture
def fresh(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemonless]:
    # Our own environment points nowhere near the home: a daemon that finds it was
    # handed the env explicitly, not inherited it.
    monkeypatch.delenv("CODETETHER_HOME", raising=False)
    home = Daemonless(short_dir / "h")
    home.root.mkdir()
    try:
        yield home
    finally:
        home.stop()


def test_the_package_names_its_public_api_and_loads_the_async_half_lazily() -> None:
    assert client_pkg.__all__ == sorted(client_pkg.__all__)
    assert {"AsyncClient", "Client", "DaemonUnavailable", "start_daemon"} <= set(client_pkg.__all__)
    assert issubclass(DaemonUnavailable, Unavailable)
    code = ("import sys; import codetether.daemon.client as c; "
            "print(sorted(n for n in ('asyncio', 'socket', 'typing') if n in sys.modules)); "
            "c.AsyncClient; print('asyncio' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "True"], out


def test_without_autostart_a_missing_daemon_is_unavailable_and_none_is_started(fresh: Daemonless) -> None:
    with pytest.raises(DaemonUnavailable, match="not running"):
        Client(fresh.paths, autostart=False, env=fresh.env)

    async def main() -> None:
        client = AsyncClient(fresh.paths, lambda method, params: None, autostart=False, env=fresh.env)
        with pytest.raises(DaemonUnavailable, match="not running"):
            await client.request("daemon/status")
        await client.close()

    asyncio.run(main())
    assert fresh.pid() is None and not fresh.paths.socket.exists()


def test_the_client_starts_the_daemon_with_the_env_it_is_given(fresh: Daemonless) -> None:
    with Client(fresh.paths, env=fresh.env) as client:
        status = client.call("daemon/status")
    assert status["pid"] == fresh.pid()
    # The next client finds it running: no second start.
    with Client(fresh.paths, autostart=False) as client:
        assert client.call("daemon/status")["pid"] == status["pid"]


def test_two_clients_starting_at_once_share_one_daemon(fresh: Daemonless) -> None:
    barrier = threading.Barrier(2)
    pids: list[Any] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            with Client(fresh.paths, env=fresh.env) as client:
                pids.append(client.call("daemon/status")["pid"])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert pids == [fresh.pid()] * 2
    # One daemon served both (the pids above). If both clients started one (the usual race),
    # the one that lost the lock said so and bowed out; under load the second client may
    # find the first daemon up and start none.
    stdout_log = fresh.root / "data" / "daemon.stdout.log"
    log = stdout_log.read_text() if stdout_log.exists() else ""
    assert log.count("another daemon holds") <= 1, log


def test_async_and_sync_clients_starting_at_once_share_one_daemon(fresh: Daemonless) -> None:
    sync_pid: list[Any] = []

    def start_sync(barrier: threading.Barrier) -> None:
        barrier.wait()
        with Client(fresh.paths, env=fresh.env) as client:
            sync_pid.append(client.call("daemon/status")["pid"])

    async def main() -> list[Any]:
        barrier = threading.Barrier(2)
        thread = threading.Thread(target=start_sync, args=(barrier,))
        thread.start()
        clients = [AsyncClient(fresh.paths, lambda method, params: None, env=fresh.env) for _ in range(2)]
        try:
            await asyncio.to_thread(barrier.wait)
            statuses = await asyncio.gather(*(c.request("daemon/status") for c in clients))
        finally:
            for c in clients:
                await c.close()
            await asyncio.to_thread(thread.join)
        return [s["pid"] for s in statuses]

    pids = asyncio.run(main())
    assert pids + sync_pid == [fresh.pid()] * 3


def test_the_async_client_reconnects_to_a_restarted_daemon_and_says_so(fresh: Daemonless) -> None:
    reconnects: list[int] = []

    async def main() -> tuple[int, int]:
        async def on_reconnect() -> None:
            reconnects.append(1)

        client = AsyncClient(fresh.paths, lambda method, params: None, env=fresh.env,
                             on_reconnect=on_reconnect)
        try:
            first = (await client.request("daemon/status"))["pid"]
            await asyncio.to_thread(fresh.stop)
            try:
                second = (await client.request("daemon/status"))["pid"]
            except Unavailable:  # sent before the reader saw the old connection close
                second = (await client.request("daemon/status"))["pid"]
        finally:
            await client.close()
        return first, second

    first, second = asyncio.run(main())
    assert first != second == fresh.pid() and reconnects == [1]


@pytest.mark.skipif(os.getuid() != 0 or not Path("/usr/bin/python3").exists(),
                    reason="needs root to run a listener as another user")
def test_the_async_client_never_talks_to_a_socket_another_user_serves(short_dir: Path) -> None:
    # The sync client's refusal is tested through the CLI (test_fail_closed.py, S8); the
    # language server's client goes through the same path.
    root = short_dir / "h"
    run_dir = root / "run"
    run_dir.mkdir(parents=True)
    nobody = pwd.getpwnam("nobody")
    os.chown(run_dir, nobody.pw_uid, nobody.pw_gid)
    for parent in (root, short_dir):
        os.chmod(parent, 0o755)
    paths = get_paths({"CODETETHER_HOME": str(root)})
    listener = subprocess.Popen(
        ["/usr/bin/python3", "-c",
         "import socket\n"
         f"s = socket.socket(socket.AF_UNIX); s.bind({paths.socket_path!r}); s.listen()\n"
         "print('ready', flush=True)\n"
         "c, _ = s.accept(); print('GOT', len(c.recv(65536)), flush=True)\n"],
        user=nobody.pw_uid, group=nobody.pw_gid, stdout=subprocess.PIPE, text=True, cwd="/")
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"

        async def main() -> None:
            client = AsyncClient(paths, lambda method, params: None, autostart=False)
            with pytest.raises(DaemonUnavailable, match=f"served by uid {nobody.pw_uid}"):
                await client.request("session/prompt", {"text": "secret"})
            await client.close()

        asyncio.run(main())
    finally:
        listener.kill()
        out, _ = listener.communicate()
    assert "GOT" not in out or "GOT 0" in out  # nothing was sent
