"""The bash tool's per-command limits, apart from the tool itself: the daemon builds them
from config at start, and the tool's module (with every other built-in tool) loads only
when a run first needs its tools."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ShellLimits"]

_GiB = 1 << 30


@dataclass(frozen=True, slots=True)
class ShellLimits:
    """Limits applied to each command. ``None`` leaves the inherited limit.

    ``cpu_seconds`` defaults to the call's timeout plus a margin; the address-space
    cap is generous because JIT runtimes (node, the JVM) reserve far more virtual
    memory than they use. ``max_processes`` counts all of the user's processes
    (RLIMIT_NPROC is per user), so it guards against fork bombs only.
    """

    cpu_seconds: int | None = None
    address_space: int | None = 16 * _GiB
    file_size: int | None = 4 * _GiB
    max_processes: int | None = 4096
    output_chars: int = 30_000
