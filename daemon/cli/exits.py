"""Exit codes (listed in the package docstring) and the end of a run whose stdout closed.

Its own module so that :mod:`.run` and :mod:`.main` both use it without importing
each other.
"""

from __future__ import annotations

import os
import sys

from ..errors import (
    ApprovalDenied,
    CodetetherError,
    ConfigError,
    InvalidParams,
    InvalidRequest,
    NotFound,
    ProviderAuthError,
    RequestCancelled,
    SecretError,
    Unavailable,
)

__all__ = ["EXIT_PIPE", "exit_code", "silence_stdout"]

EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool whose reader went away


def exit_code(exc: CodetetherError) -> int:
    """The exit code for an error (see the package docstring)."""
    for cls, code in ((Unavailable, 3), (NotFound, 4), (ConfigError, 5), (SecretError, 6),
                      (ProviderAuthError, 6), (ApprovalDenied, 7), (RequestCancelled, 130),
                      (InvalidParams, 2), (InvalidRequest, 2)):
        if isinstance(exc, cls):
            return code
    return 1


def silence_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
