"""CLI round trip to a warm daemon vs a bare interpreter start [goal: ratio <= 1.5x].

Three commands run interleaved (rotating order, so drift hits all alike):
``python -c pass``, ``python -c "import <cli modules>"`` (the import cost alone) and
``codetether daemon status --json`` (imports + connect + one RPC + print). hyperfine,
when installed, times the two ends again with less harness overhead. Then
``python -X importtime`` names the modules that make the CLI slow to start.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from ._util import (
    CLI,
    PYTHON,
    BenchResult,
    ImportedModule,
    heading,
    parse_importtime,
    print_rows,
    summarize,
    temp_daemon,
    timed_run,
)

NAME = "cli_roundtrip"
GOAL_RATIO = 1.5
CLI_MODULES = ("codetether.daemon.cli.main", "codetether.daemon.cli.args")
STATUS_ARGV = ["daemon", "status", "--json"]


def run(quick: bool = False) -> BenchResult:
    result = BenchResult(NAME)
    runs = 10 if quick else 30
    with temp_daemon() as daemon:
        env = daemon.env
        commands = {
            "python -c pass": [PYTHON, "-c", "pass"],
            "python -c 'import cli.main, cli.args'": [PYTHON, "-c", "import " + ", ".join(CLI_MODULES)],
            "codetether daemon status --json": [CLI, *STATUS_ARGV],
        }
        probe = subprocess.run([CLI, *STATUS_ARGV], env=env, capture_output=True, text=True, check=True)
        if not json.loads(probe.stdout).get("running"):
            raise RuntimeError(f"daemon status says not running: {probe.stdout}")
        samples = _interleaved(commands, env, runs)
        stats = {label: summarize(s) for label, s in samples.items()}
        print(f"interleaved subprocess timing, {runs} runs each (after 3 warm-up rounds):")
        print_rows([[label, f"{st.p50 * 1e3:.1f}", f"{st.min * 1e3:.1f}", f"{st.p90 * 1e3:.1f}"]
                    for label, st in stats.items()], ["command", "median ms", "min ms", "p90 ms"])
        py, imp, cli = (stats[k].p50 * 1e3 for k in commands)
        result.figure("daemon status --json, median", cli, "ms")
        result.figure("python -c pass, median", py, "ms")
        result.figure("ratio status / python (interleaved)", cli / py, "x", GOAL_RATIO)
        result.figure("CLI import cost over python -c pass", imp - py, "ms")
        result.figure("after imports: argparse+connect+RPC+print", cli - imp, "ms")

        hf = _hyperfine([commands["codetether daemon status --json"], commands["python -c pass"]],
                        env, runs)
        if hf is not None:
            hcli, hpy = hf
            print(f"hyperfine -N, {runs} runs each in alternating rounds: status {hcli:.1f} ms, "
                  f"python {hpy:.1f} ms, ratio {hcli / hpy:.2f}x")
            result.figure("ratio status / python (hyperfine)", hcli / hpy, "x", GOAL_RATIO)
        else:
            print("hyperfine not installed (apt-get install -y hyperfine): interleaved timing only")

        phases = _phases(env, runs)
        print("\nafter the imports, inside one status command (median of "
              f"{runs} processes, ms): " + "  ".join(f"{k} {v:.2f}" for k, v in phases.items()))
        result.note("status command phases after import (ms): "
                    + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))
        result.figure("argparse build + parse in the status command", phases["argparse"], "ms")

        site = _profile(["-c", "pass"], env, runs=3 if quick else 5)
        site_ms = sum(m.self_us for m in site.values()) / 1e3
        editable = [m for m in site.values() if m.name.startswith("__editable__")]
        print(f"\nthe python -c pass baseline itself spends {site_ms:.1f} ms importing at start-up"
              + (f", {editable[0].cum_us / 1e3:.1f} ms of it in the editable-install finder "
                 f"({editable[0].name})" if editable else ""))
        profiles = [(f"import {m}", ["-c", f"import {m}"]) for m in CLI_MODULES]
        profiles.append(("codetether " + " ".join(STATUS_ARGV) + " (every import of the command)",
                         ["-c", f"from codetether.daemon.cli import main; main({STATUS_ARGV!r})"]))
        for title, args in profiles:
            mods = _profile(args, env, runs=3 if quick else 5)
            own = [m for m in mods.values() if m.name not in site]
            total = sum(m.self_us for m in own) / 1e3
            heading_line = f"{title}: {total:.1f} ms in {len(own)} modules beyond python -c pass"
            print(f"\n{heading_line}; top by self time:")
            top = sorted(own, key=lambda m: -m.self_us)[: 6 if quick else 10]
            print_rows([[m.name, f"{m.self_us / 1e3:.2f}", f"{m.cum_us / 1e3:.2f}", m.parent or "-"]
                        for m in top], ["module", "self ms", "cumul ms", "imported by"])
            result.note(heading_line + "; top: " + ", ".join(
                f"{m.name} {m.self_us / 1e3:.1f}ms" for m in top[:6]))
    return result


def _interleaved(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, list[float]]:
    labels = list(commands)
    samples: dict[str, list[float]] = {label: [] for label in labels}
    for i in range(runs + 3):
        shift = i % len(labels)
        for label in labels[shift:] + labels[:shift]:
            elapsed = timed_run(commands[label], env)
            if i >= 3:
                samples[label].append(elapsed)
    return samples


def _hyperfine(commands: list[list[str]], env: dict[str, str], runs: int) -> tuple[float, float] | None:
    """Median ms of each command, or None without hyperfine. hyperfine runs one
    command's runs back to back; three rounds in alternating order spread drift."""
    exe = shutil.which("hyperfine")
    if exe is None:
        return None
    times: list[list[float]] = [[] for _ in commands]
    per_round = max(3, runs // 3)
    for rnd in range(3):
        order = list(range(len(commands)))[:: 1 if rnd % 2 == 0 else -1]
        with tempfile.NamedTemporaryFile(suffix=".json", prefix="ct", dir="/tmp") as out:
            proc = subprocess.run([exe, "-N", "--warmup", "2", "--runs", str(per_round), "--style",
                                   "none", "--export-json", out.name,
                                   *(subprocess.list2cmdline(commands[i]) for i in order)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if proc.returncode != 0:  # its outlier warnings on stderr are expected noise otherwise
                raise RuntimeError(f"hyperfine exited {proc.returncode}: {proc.stderr[-400:]}")
            data = json.loads(Path(out.name).read_text())
        for i, res in zip(order, data["results"]):
            times[i].extend(res["times"])
    a, b = (summarize(t).p50 * 1e3 for t in times)
    return a, b


_PHASES = """
import json, sys, time
t = [time.perf_counter()]
from codetether.daemon.cli.args import build_parser
from codetether.daemon.client import Client
from codetether.daemon.paths import get_paths
t.append(time.perf_counter())
try:  # as cli.main.run does it: newer build_parser() builds only the named subcommand
    parser = build_parser(sys.argv[1:])
except TypeError:
    parser = build_parser()
args = parser.parse_args(sys.argv[1:])
t.append(time.perf_counter())
paths = get_paths()
t.append(time.perf_counter())
client = Client(paths, autostart=False)
t.append(time.perf_counter())
status = client.call("daemon/status")
t.append(time.perf_counter())
client.close()
text = json.dumps({"running": True, **status}, indent=2)
t.append(time.perf_counter())
print(json.dumps([(b - a) * 1e3 for a, b in zip(t, t[1:])]))
"""


def _phases(env: dict[str, str], runs: int) -> dict[str, float]:
    """Median ms of each step of a status command, measured inside the process."""
    names = ("imports", "argparse", "get_paths", "connect", "rpc", "json out")
    samples: list[list[float]] = [[] for _ in names]
    for _ in range(runs):
        out = subprocess.run([PYTHON, "-c", _PHASES, *STATUS_ARGV], env=env, capture_output=True,
                             text=True, check=True).stdout
        for i, v in enumerate(json.loads(out)):
            samples[i].append(v)
    return {n: summarize(s).p50 for n, s in zip(names, samples)}


def _profile(args: list[str], env: dict[str, str], runs: int) -> dict[str, ImportedModule]:
    """``-X importtime`` of ``python <args>``: per module the minimum over ``runs``
    (import times are noisy; the minimum is the repeatable part)."""
    best: dict[str, ImportedModule] = {}
    for _ in range(runs):
        proc = subprocess.run([PYTHON, "-X", "importtime", *args], env=env, capture_output=True,
                              text=True, check=True)
        for mod in parse_importtime(proc.stderr):
            old = best.get(mod.name)
            if old is None:
                best[mod.name] = mod
            else:
                old.self_us = min(old.self_us, mod.self_us)
                old.cum_us = min(old.cum_us, mod.cum_us)
    return best


if __name__ == "__main__":
    heading(NAME)
    run()
