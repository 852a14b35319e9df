"""The daemon's grpc runs without fork handlers (grpc/grpc#43055: with them, a child
``subprocess`` forks may abort with EBADF before it execs, which failed a bash tool call),
unless the user's environment says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import asyncio, os, sys
from codetether.daemon.transports.grpc import GrpcListener
from codetether.daemon.api import API
async def main():
    server = GrpcListener(API(), "127.0.0.1", 0, token="t")
    await server.start()
    codes = []
    for _ in range(20):
        p = await asyncio.create_subprocess_exec("true")
        codes.append(await p.wait())
    await server.stop(None)
    print(os.environ.get("GRPC_ENABLE_FORK_SUPPORT"), sorted(set(codes)))
asyncio.run(main())
"""


@pytest.mark.parametrize(("given", "seen"), [(None, "false"), ("true", "true")])
def test_fork_support_is_off_unless_the_environment_says(given: str | None, seen: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_ENABLE_FORK_SUPPORT"}
    if given is not None:
        env["GRPC_ENABLE_FORK_SUPPORT"] = given
    # grpc imported by the transport package, the first thing that starts it
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [seen, "[0]"]

