"""The embedded model through the CLI, as a user meets it: cold and warm first answer, prompt size.

Cold: ``codetether run --json`` with no daemon running and the model not loaded (a
fresh CODETETHER_HOME; the CLI starts the daemon, which loads the model on the first
request). Warm: the same run again against that daemon (model loaded, the prompt's
stable prefix already evaluated), then in another workspace (a different system
text after the same tool prompt). Timed from the spawn of the CLI to the first text
it prints, and to its exit. Prompt size: the first turn's input tokens, as the
model counted them (the issue measured 843 before the tool prompt was compacted).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from ._util import CLI, BenchResult, Skip, _stop, child_env, heading, print_rows, summarize, temp_dir

NAME = "embedded_cli"
PROMPT = "Reply with one short sentence: what is 2 + 2?"
PROMPT_BEFORE = 843  # tokens of system + tool prompt before compaction (issue figures)


def _run(env: dict[str, str], workspace: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([CLI, "run", "--json", "--yes", "--workspace", str(workspace), PROMPT],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = None
    inputs: list[int] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("type") == "text" and first is None and event.get("text", "").strip():
            first = time.perf_counter() - t0
        elif event.get("type") == "usage":
            inputs.append(int(event.get("input_tokens", 0)))
    stderr = proc.stderr.read() if proc.stderr else ""
    code = proc.wait(timeout=300)
    total = time.perf_counter() - t0
    if code != 0:
        raise RuntimeError(f"codetether run exited {code}: {stderr.strip()[-400:]}")
    return {"first": first if first is not None else total, "total": total,
            "prompt_tokens": float(inputs[0]) if inputs else 0.0, "turns": float(len(inputs))}


def run(quick: bool = False) -> BenchResult:
    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        raise Skip(f"llama_cpp is not importable ({exc}); install the 'embedded' extra") from exc
    from codetether.daemon.core.providers._gguf import DEFAULT_MODEL, find_model_file

    if find_model_file(DEFAULT_MODEL) is None:
        raise Skip(f"{DEFAULT_MODEL} is not downloaded: codetether models pull")
    result = BenchResult(NAME)
    from codetether.daemon.core.providers._gguf import models_dir

    cache = models_dir() / "prompt-cache"
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in (
        "cold, no prompt cache on disk", "cold, prompt cache on disk", "warm, same workspace",
        "warm, another workspace")}
    labels = list(runs)
    for _ in range(1 if quick else 2):
        for kv in cache.glob("*.kv"):  # a cache: safe to drop, and the first cold run refills it
            kv.unlink()
        for cold in labels[:2]:
            with temp_dir() as home:
                env = child_env(CODETETHER_HOME=str(home))
                ws, other = home / "ws", home / "other"
                for folder in (ws, other):
                    folder.mkdir()
                    (folder / "main.py").write_text("print(2 + 2)\n")
                try:
                    runs[cold].append(_run(env, ws))
                    if cold == labels[1]:
                        runs[labels[2]].append(_run(env, ws))
                        runs[labels[3]].append(_run(env, other))
                finally:
                    try:
                        _stop(env, int((home / "run" / "daemon.pid").read_text()))
                    except (OSError, ValueError):
                        pass
    print_rows([[label, f"{summarize([r['first'] for r in rs]).p50:.2f}",
                 f"{summarize([r['total'] for r in rs]).p50:.2f}", f"{rs[0]['prompt_tokens']:.0f}",
                 "/".join(f"{r['turns']:.0f}" for r in rs)] for label, rs in runs.items()],
               ["codetether run --json", "first text s (p50)", "exit s (p50)", "prompt tokens", "model turns"])
    prompt = runs[labels[0]][0]["prompt_tokens"]
    print(f"prompt: {prompt:.0f} tokens for this task (system + tools + the question); "
          f"{PROMPT_BEFORE} before the tool prompt was compacted")
    for label, rs in runs.items():
        result.figure(f"first answer via CLI, {label} (p50)", summarize([r["first"] for r in rs]).p50 * 1e3, "ms")
    result.figure("first-turn prompt tokens", prompt, "tok")
    result.note(f"prompt tokens before compaction (issue figures): {PROMPT_BEFORE}")
    return result


if __name__ == "__main__":
    heading(NAME)
    run()
