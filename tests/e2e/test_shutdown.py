"""Signals during the daemon's ordered shutdown (R4): a second SIGTERM, or a SIGINT,
while it drains must be absorbed. The daemon finishes its shutdown, exits 0, and
leaves no temp file (``*.ct-tmp``), pid file or socket behind.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest


def _wait_until(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Poll a condition the daemon offers no event for (its socket file going away)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.002)


@pytest.mark.parametrize("signals", [
    (signal.SIGTERM, signal.SIGTERM, signal.SIGINT),
    (signal.SIGINT, signal.SIGTERM, signal.SIGTERM),
], ids=["term-term-int", "int-term-term"])
def test_r4_signals_during_shutdown_are_absorbed_and_it_exits_zero(short_dir: Path, signals,  # type: ignore[no-untyped-def]
                                                                  daemon_process) -> None:
    home = short_dir / "h"
    proc = daemon_process(home)
    sock_path = home / "run" / "daemon.sock"
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(sock_path))
        # Requests whose answers we do not read: the daemon's writes back up, so the
        # shutdown's drain has requests in flight to wait for (up to DRAIN_SECONDS).
        client.sendall(b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"tools/list"}\n' % i
                                for i in range(200)))
        client.settimeout(30)
        assert client.recv(1) == b"{"  # they are being served
        proc.send_signal(signals[0])
        # The listener stopped accepting: the ordered shutdown is under way.
        _wait_until(lambda: not sock_path.exists())
        for sig in signals[1:]:
            proc.send_signal(sig)
    finally:
        client.close()  # lets the drain finish
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode(errors="replace")

    assert not (home / "run" / "daemon.pid").exists()
    assert not sock_path.exists()
    assert [p for p in home.rglob("*.ct-tmp")] == []
    log = (home / "data" / "logs" / "daemon.log").read_text()
    # Two of the same signal sent at once may arrive as one: the kernel does not queue them.
    assert log.count("received while shutting down: ignored") >= 1, log
    assert log.index("shutting down") < log.index("stopped")


def test_r4_shutdown_completes_while_a_client_never_reads_its_answers(short_dir: Path,  # type: ignore[no-untyped-def]
                                                                      daemon_process) -> None:
    from codetether.daemon.runner import DRAIN_SECONDS

    home = short_dir / "h"
    proc = daemon_process(home)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(home / "run" / "daemon.sock"))
        client.sendall(b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"tools/list"}\n' % i
                                for i in range(200)))
        client.settimeout(30)
        assert client.recv(1) == b"{"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        # The client stays connected and silent until the daemon is gone: answers it
        # never reads must not hold the shutdown (they did, for good, before R4's fix).
        out, _ = proc.communicate(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        client.close()
    assert proc.returncode == 0, out.decode(errors="replace")
    assert elapsed < DRAIN_SECONDS + 5, elapsed
    assert not (home / "run" / "daemon.pid").exists()
    assert [p for p in home.rglob("*.ct-tmp")] == []
