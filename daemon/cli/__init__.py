"""The ``codetether`` command line: a thin client of the daemon (``serve`` and ``spawn`` become
the daemon; ``a2a`` is a client of other A2A agents, loading the a2a-sdk only then).

Exit codes: 0 success · 1 error · 2 usage or invalid params · 3 daemon unavailable ·
4 not found · 5 config error (config.toml does not load, or an unusable CODETETHER_HOME) ·
6 missing key / auth · 7 denied · 8 a run stopped at the step limit · 9 a run stopped at
the model's output token limit · 130 interrupted · 141 stdout closed (``| head``).
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from .main import run

    return run(sys.argv[1:] if argv is None else argv)
