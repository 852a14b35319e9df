"""Shared helpers: summary statistics, figures and tables, a throwaway daemon."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CLI",
    "PYCACHE",
    "PYTHON",
    "BenchResult",
    "Daemon",
    "DaemonFailed",
    "Figure",
    "ImportedModule",
    "Skip",
    "Stats",
    "child_env",
    "fmt",
    "heading",
    "home_dir",
    "parse_importtime",
    "percentile",
    "print_rows",
    "summarize",
    "temp_daemon",
    "temp_dir",
    "timed_run",
]

# sys.executable, not its resolved target: the venv's python is a symlink and only
# the link itself knows it belongs to the venv.
PYTHON = sys.executable
CLI = os.path.join(os.path.dirname(sys.executable), "codetether")
# Child processes keep their bytecode here: the environment may set
# PYTHONDONTWRITEBYTECODE, and a start that compiles our sources every time is not
# what a user sees.
PYCACHE = Path(__file__).resolve().parent.parent / ".bench" / "pycache"


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a process we time: ours, with a warm bytecode cache."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(PYCACHE), **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


class Skip(Exception):
    """Raised by a benchmark that cannot run here (missing dependency); not a failure."""


# -- statistics -----------------------------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of an already sorted sequence, ``q`` in [0, 100]."""
    if not ordered:
        raise ValueError("no samples")
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Stats:
    n: int
    min: float
    p50: float
    p90: float
    p99: float
    max: float
    mean: float

    def line(self, unit: str, scale: float = 1.0, digits: int = 1) -> str:
        def f(v: float) -> str:
            return f"{v * scale:.{digits}f}"

        return (f"p50 {f(self.p50)} {unit}  p90 {f(self.p90)}  p99 {f(self.p99)}  "
                f"min {f(self.min)}  max {f(self.max)}  mean {f(self.mean)}  (n={self.n})")


def summarize(samples: Sequence[float]) -> Stats:
    ordered = sorted(samples)
    return Stats(len(ordered), ordered[0], percentile(ordered, 50), percentile(ordered, 90),
                 percentile(ordered, 99), ordered[-1], sum(ordered) / len(ordered))


# -- figures ---------------------------------------------------------------------------


@dataclass(slots=True)
class Figure:
    """One measured number. ``goal`` is an upper bound (lower is better) or None."""

    name: str
    value: float
    unit: str
    goal: float | None = None

    @property
    def status(self) -> str:
        if self.goal is None:
            return ""
        return "ok" if self.value <= self.goal else "MISS"


@dataclass(slots=True)
class BenchResult:
    bench: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None
    seconds: float = 0.0
    loadavg: float = 0.0  # 1-minute load average when it started: this machine may be shared

    def figure(self, name: str, value: float, unit: str, goal: float | None = None) -> Figure:
        fig = Figure(name, value, unit, goal)
        self.figures.append(fig)
        return fig

    def note(self, text: str) -> None:
        """A line kept in results.json (the detail printout is for humans)."""
        self.notes.append(text)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["figures"] = [dict(asdict(f), status=f.status) for f in self.figures]
        return data


def fmt(value: float, unit: str) -> str:
    if not unit and float(value).is_integer():
        return str(int(value))
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:.{digits}f} {unit}".rstrip()


def heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 74 - len(title)), flush=True)


def print_rows(rows: Sequence[Sequence[str]], header: Sequence[str] | None = None,
               indent: str = "  ") -> None:
    """A plain left-aligned table; numeric-looking cells are right-aligned."""
    table = [list(header)] if header else []
    table += [list(r) for r in rows]
    if not table:
        return
    widths = [max(len(r[i]) for r in table if i < len(r)) for i in range(max(map(len, table)))]

    def cell(text: str, width: int) -> str:
        return text.rjust(width) if _numeric(text) else text.ljust(width)

    for n, row in enumerate(table):
        print(indent + "  ".join(cell(c, widths[i]) for i, c in enumerate(row)).rstrip())
        if header and n == 0:
            print(indent + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def _numeric(text: str) -> bool:
    """A number, optionally with a unit: ``12.5``, ``-3 ms``, ``61.6 tok/s``."""
    words = text.split()
    if not 1 <= len(words) <= 2:
        return False
    try:
        float(words[0])
    except ValueError:
        return False
    return True


# -- temp dirs and a throwaway daemon -------------------------------------------------


@contextmanager
def temp_dir() -> Iterator[Path]:
    """A short temp dir under /tmp (a Unix socket path inside must stay < 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="ct", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def home_dir() -> Iterator[Path]:
    """A throwaway daemon home where a user's data lives: under the home directory
    (``~/.cache/codetether-bench``), not /tmp. On this VM creating a directory under
    /tmp costs ~190 us of CPU against ~15 us under /root (same disk; /tmp's block
    group), which a daemon making one per session would pay and a user's would not.
    /tmp when the home's path would make the socket path too long."""
    base = Path.home() / ".cache" / "codetether-bench"
    if len(str(base)) > 48:
        with temp_dir() as path:
            yield path
        return
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="ct", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class Daemon:
    home: Path
    env: dict[str, str]
    pid: int

    @property
    def paths(self) -> Any:
        from codetether.daemon.paths import get_paths

        return get_paths(self.env)

    @property
    def stdout_log(self) -> Path:
        return self.home / "data" / "daemon.stdout.log"


class DaemonFailed(RuntimeError):
    pass


@contextmanager
def temp_daemon(extra_env: dict[str, str] | None = None,
                prepare: Callable[[Path], None] | None = None) -> Iterator[Daemon]:
    """A daemon in its own CODETETHER_HOME, stopped (and its files removed) afterwards.

    ``prepare(home)`` runs before the start (to seed config or data files).
    ``codetether daemon start`` returns only after the daemon's readiness handshake,
    so its return is the wait.
    """
    with temp_dir() as home:
        if prepare is not None:
            prepare(home)
        env = child_env(CODETETHER_HOME=str(home), **(extra_env or {}))
        try:
            proc = subprocess.run([CLI, "daemon", "start", "--json"], env=env, capture_output=True,
                                  text=True, timeout=90)
            failure = "" if proc.returncode == 0 else \
                f"exited {proc.returncode}: {proc.stdout.strip() or proc.stderr.strip()}"
        except subprocess.TimeoutExpired:
            failure = "did not return within 90 s"
        if failure:
            tail = _tail(home / "data" / "daemon.stdout.log", 12)
            try:  # a daemon that came up too late for the CLI still gets stopped
                _stop(env, int((home / "run" / "daemon.pid").read_text()))
            except (OSError, ValueError):
                pass
            raise DaemonFailed(f"`codetether daemon start` {failure}\n{tail}")
        pid = int(json.loads(proc.stdout)["pid"])
        try:
            yield Daemon(home, env, pid)
        finally:
            _stop(env, pid)


def _stop(env: dict[str, str], pid: int) -> None:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        try:
            subprocess.run([CLI, "daemon", "stop", "--json"], env=env, capture_output=True, timeout=30)
        except subprocess.TimeoutExpired:
            pass  # signals below
        for sig, wait in ((None, 10.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            if sig is not None:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    return
                print(f"  (daemon {pid} still running: sent {sig.name})", file=sys.stderr)
            if select.select([pidfd], [], [], wait)[0]:  # readable once the process exits
                return
    finally:
        os.close(pidfd)


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def timed_run(cmd: Sequence[str], env: dict[str, str] | None = None) -> float:
    """Wall time in seconds of one subprocess run; raises if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()[-400:]}")
    return elapsed


# -- import-time logs ---------------------------------------------------------------


@dataclass(slots=True)
class ImportedModule:
    """One line of ``python -X importtime`` output."""

    name: str
    self_us: int
    cum_us: int
    depth: int
    parent: str | None = None


def parse_importtime(text: str) -> list[ImportedModule]:
    """Modules in the order importtime printed them (children before their parent)."""
    mods: list[ImportedModule] = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        try:
            self_us, cum_us, name = line[len("import time:"):].split("|", 2)
            mods.append(ImportedModule(name.strip(), int(self_us), int(cum_us),
                                       (len(name) - len(name.lstrip()) - 1) // 2))
        except ValueError:
            continue  # a line of the program's own output that happens to match
    # A module is printed after its children, so read backwards: a module's parent is
    # the last line seen one level up.
    last_at: dict[int, str] = {}
    for mod in reversed(mods):
        mod.parent = last_at.get(mod.depth - 1) if mod.depth else None
        last_at[mod.depth] = mod.name
    return mods
