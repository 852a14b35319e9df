"""The embedded model: load time, time to first token, tokens/s; our wrapper vs llama_cpp.

Both paths load the same GGUF with the same n_ctx and threads, and generate from
the same chat-formatted prompt (greedy, same max_tokens), so they produce the same
tokens and the difference is our wrapper: the worker thread, the queue into the
event loop, the tool-call text parser. Load time is measured once per path (the
wrapper loads on its first request). Prompts differ per repetition so neither
path reuses the previous prompt's KV cache; the repetitions alternate paths.
The first request from a fresh process (import, llama.cpp's one-off warm-up, load,
first token) is timed in a subprocess per path.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._util import PYTHON, BenchResult, Skip, child_env, heading, print_rows, summarize

ROOT = Path(__file__).resolve().parent.parent
NAME = "embedded_model"
TOPICS = ("the sea", "a lighthouse", "autumn rain", "a mountain path", "city lights",
          "an old library", "a desert night", "a winter garden")


@dataclass(slots=True)
class _Gen:
    ttft: float  # seconds from the call to the first text
    total: float  # seconds from the call to the end of the stream
    tokens: int  # output tokens (recounted from the text, the same way for both paths)
    text: str

    @property
    def tok_s(self) -> float:
        """Decode rate after the first token."""
        return (self.tokens - 1) / (self.total - self.ttft) if self.tokens > 1 and self.total > self.ttft else 0.0


def run(quick: bool = False) -> BenchResult:
    t0 = time.perf_counter()
    try:
        import llama_cpp
        import llama_cpp.llama_chat_format  # noqa: F401 - jinja2: a one-off both paths would pay
    except ImportError as exc:
        raise Skip(f"llama_cpp is not importable ({exc}); install the 'embedded' extra") from exc
    import_s = time.perf_counter() - t0
    from codetether.daemon.core.providers.base import ProviderCredentials
    from codetether.daemon.core.providers.registry import create_provider

    model_id, path, n_ctx = _model()
    reps = 3 if quick else 8
    max_tokens = 48 if quick else 96
    result = BenchResult(NAME)
    print(f"model {model_id}: {path.name} ({path.stat().st_size / 2**20:.0f} MB), n_ctx {n_ctx}, "
          f"llama_cpp {llama_cpp.__version__} (import {import_s * 1e3:.0f} ms), "
          f"max_tokens {max_tokens}, greedy, {reps} prompts per path")

    # A fresh process per path: the first request as the daemon's first embedded
    # request would see it (import, one-off llama.cpp warm-up, load, first token).
    # It varies a lot run to run (0.6-3.5 s seen on the same machine), so full runs take 3 each.
    colds: dict[str, list[dict[str, float]]] = {"wrapper": [], "direct": []}
    for i in range(1 if quick else 3):
        for kind in list(colds)[:: 1 if i % 2 == 0 else -1]:
            colds[kind].append(_cold_in_subprocess(kind))
    for kind, runs in colds.items():
        print(f"cold first request, fresh process, {kind}: " + "; ".join(
            ", ".join(f"{k} {v:.2f} s" for k, v in c.items()) for c in runs))
    cold = {kind: summarize([c["first_token"] for c in runs]).p50 for kind, runs in colds.items()}

    t0 = time.perf_counter()
    llama = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=None, verbose=False)
    direct_load = time.perf_counter() - t0
    provider = create_provider("embedded", ProviderCredentials())

    direct: list[_Gen] = []
    wrapped: list[_Gen] = []
    with asyncio.Runner() as runner:
        try:
            # Prompt 0 warms both up (the wrapper loads its own copy of the model here).
            warm = [_direct(llama, _prompt(0), max_tokens),
                    runner.run(_wrapped(provider, model_id, _prompt(0), max_tokens))]
            for i in range(1, reps + 1):
                pair = [lambda i=i: direct.append(_direct(llama, _prompt(i), max_tokens)),  # noqa: F821 (deleted after use below)
                        lambda i=i: wrapped.append(runner.run(_wrapped(provider, model_id, _prompt(i), max_tokens)))]
                for step in pair if i % 2 else pair[::-1]:
                    step()
        finally:
            runner.run(provider.aclose())
    for gen in (*warm, *direct, *wrapped):
        gen.tokens = len(llama.tokenize(gen.text.encode(), add_bos=False, special=False))
    del llama

    same = sum(d.text == w.text for d, w in zip([warm[0], *direct], [warm[1], *wrapped]))
    print(f"same text from both paths for {same} of {len(direct) + 1} prompts")
    rows = []
    for label, gens in (("llama_cpp direct", direct), ("EmbeddedProvider", wrapped)):
        ttft, total = summarize([g.ttft for g in gens]), summarize([g.total for g in gens])
        rate = summarize([g.tok_s for g in gens])
        rows.append([label, f"{ttft.p50 * 1e3:.1f}", f"{rate.p50:.1f}", f"{total.p50 * 1e3:.0f}",
                     f"{summarize([g.tokens for g in gens]).p50:.0f}"])
    print_rows(rows, ["path", "TTFT ms (p50)", "tokens/s (p50)", "total ms (p50)", "tokens"])
    # Same prompt, same tokens: the paired differences cancel most machine noise.
    ttft_diff = summarize([w.ttft - d.ttft for d, w in zip(direct, wrapped)]).p50
    total_ratio = summarize([w.total / d.total for d, w in zip(direct, wrapped)]).p50
    print(f"paired over the same prompts: wrapper TTFT {ttft_diff * 1e3:+.1f} ms vs direct (median), "
          f"whole generation {total_ratio:.3f}x the direct time")

    result.figure("model load, llama_cpp.Llama() (warm process)", direct_load * 1e3, "ms")
    result.figure("cold first token via EmbeddedProvider (median)", cold["wrapper"] * 1e3, "ms")
    result.figure("cold first token via llama_cpp direct (median)", cold["direct"] * 1e3, "ms")
    result.figure("TTFT p50, llama_cpp direct", summarize([g.ttft for g in direct]).p50 * 1e3, "ms")
    result.figure("TTFT p50, EmbeddedProvider", summarize([g.ttft for g in wrapped]).p50 * 1e3, "ms")
    result.figure("tokens/s p50, llama_cpp direct", summarize([g.tok_s for g in direct]).p50, "tok/s")
    result.figure("tokens/s p50, EmbeddedProvider", summarize([g.tok_s for g in wrapped]).p50, "tok/s")
    result.figure("wrapper TTFT overhead (paired median)", ttft_diff * 1e3, "ms")
    result.figure("wrapper generation time / direct (paired)", total_ratio, "x")
    return result


def _model() -> tuple[str, Path, int]:
    from codetether.daemon.core.providers.embedded import (
        DEFAULT_MODEL,
        EMBEDDED_MODELS,
        find_model_file,
    )

    path = find_model_file(DEFAULT_MODEL)
    if path is None:
        raise Skip(f"no GGUF for {DEFAULT_MODEL!r}: codetether models pull {DEFAULT_MODEL}")
    return DEFAULT_MODEL, path, EMBEDDED_MODELS[DEFAULT_MODEL].n_ctx


def _cold_in_subprocess(kind: str) -> dict[str, float]:
    code = f"from bench.embedded_model import _cold; _cold({kind!r})"
    out = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=child_env(), capture_output=True,
                         text=True, check=True, timeout=300).stdout
    return json.loads(out.splitlines()[-1])


def _cold(kind: str) -> None:
    """In a fresh process: seconds from nothing to the first token, and the parts."""
    t0 = time.perf_counter()
    model_id, path, n_ctx = _model()
    if kind == "direct":
        import llama_cpp
        import llama_cpp.llama_chat_format  # noqa: F401

        t1 = time.perf_counter()
        llama = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=None, verbose=False)
        t2 = time.perf_counter()
        gen = _direct(llama, _prompt(0), 8)
        parts = {"import": t1 - t0, "load": t2 - t1, "first_token": t2 + gen.ttft - t0}
    else:
        from codetether.daemon.core.providers.base import ProviderCredentials
        from codetether.daemon.core.providers.registry import create_provider

        provider = create_provider("embedded", ProviderCredentials())
        t1 = time.perf_counter()
        gen = asyncio.run(_wrapped(provider, model_id, _prompt(0), 8))
        parts = {"first_token": t1 + gen.ttft - t0}
    print(json.dumps(parts))


def _prompt(i: int) -> str:
    # The varying word comes first so the two prompts share no long prefix.
    return f"{TOPICS[i % len(TOPICS)].capitalize()}: write two sentences about it."


def _request(model_id: str, prompt: str, max_tokens: int) -> Any:
    from codetether.daemon.core.providers.base import CompletionRequest
    from codetether.daemon.wire.messages import Message

    return CompletionRequest(model=model_id, messages=[Message(role="user", content=prompt)],
                             max_tokens=max_tokens, temperature=0.0)


async def _wrapped(provider: Any, model_id: str, prompt: str, max_tokens: int) -> _Gen:
    from codetether.daemon.core.providers.base import TextDelta

    t0 = time.perf_counter()
    first = None
    text = []
    async for event in provider.stream(_request(model_id, prompt, max_tokens)):
        if isinstance(event, TextDelta):
            first = first or time.perf_counter()
            text.append(event.text)
    end = time.perf_counter()
    return _Gen((first or end) - t0, end - t0, 0, "".join(text))


def _direct(llama: Any, prompt: str, max_tokens: int) -> _Gen:
    """The same generation straight on llama_cpp: the prompt formatted as the wrapper
    formats it, then create_completion streaming."""
    from codetether.daemon.core.providers.embedded import to_chat_messages
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    messages = to_chat_messages(_request("", prompt, max_tokens))
    t0 = time.perf_counter()
    eos, bos = llama.token_eos(), llama.token_bos()
    formatter = Jinja2ChatFormatter(
        template=llama.metadata["tokenizer.chat_template"],
        eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
        stop_token_ids=[eos],
    )
    formatted = formatter(messages=messages)
    tokens = llama.tokenize(formatted.prompt.encode(), add_bos=not formatted.added_special, special=True)
    first = None
    text = []
    for chunk in llama.create_completion(tokens, max_tokens=max_tokens, temperature=0.0,
                                         repeat_penalty=1.1, stop=formatted.stop, stream=True):
        if chunk["choices"][0].get("text"):
            first = first or time.perf_counter()
            text.append(chunk["choices"][0]["text"])
    end = time.perf_counter()
    return _Gen((first or end) - t0, end - t0, 0, "".join(text))


if __name__ == "__main__":
    heading(NAME)
    run()
