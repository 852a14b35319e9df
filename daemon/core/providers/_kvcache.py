"""The evaluated tool prompt, kept on disk so a fresh daemon does not read it again.

Every embedded request starts with the same tool prompt (see
:func:`._tooltext.render_tool_prompt`). Within one loaded model llama-cpp-python
already skips the part of a prompt that matches what it evaluated last; this module
adds the same across processes: the first time a prefix is seen its KV state (only
sequence 0, no logits: ~25 KB a token for SmolLM2-135M) is saved under the models
folder, named by a hash of the model file, n_ctx and the prefix tokens; a later
process loads it instead of evaluating. A file that does not load or holds other
tokens is deleted and the prefix evaluated as usual: the cache can only save time.

Call with the model's lock held (a llama.cpp context is not thread-safe).
"""

from __future__ import annotations

import array
import ctypes
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["MIN_PREFIX", "common_prefix", "reuse_prefix"]

log = logging.getLogger("codetether.providers.embedded")
MIN_PREFIX = 32  # below this, evaluating is as quick as loading a file


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):  # lengths differ: the shorter one bounds the prefix
        if x != y:
            break
        n += 1
    return n


def _key(model_path: Path, n_ctx: int, prefix: list[int]) -> str:
    stat = model_path.stat()
    # Name, size, mtime and inode: another GGUF at the same path never reuses this state.
    digest = hashlib.sha256(
        f"{model_path.name}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}:{n_ctx}:".encode())
    digest.update(array.array("i", prefix).tobytes())
    return digest.hexdigest()[:32]


def reuse_prefix(llama: Any, prefix: list[int], model_path: Path, folder: Path) -> str:
    """Make ``llama`` hold ``prefix`` evaluated: already in memory, loaded from
    ``folder``, or evaluated now and saved there. Returns which, for the log."""
    import llama_cpp

    n = len(prefix)
    if n < MIN_PREFIX or n >= llama.n_ctx():
        return "skipped"
    if llama.n_tokens >= n and llama.input_ids[:n].tolist() == prefix:
        return "in memory"
    ctx = llama._ctx.ctx
    path = folder / f"{_key(model_path, llama.n_ctx(), prefix)}.kv"
    if path.is_file():
        llama._ctx.kv_cache_seq_rm(-1, 0, -1)
        tokens = (llama_cpp.llama_token * n)()
        count = ctypes.c_size_t(0)
        read = llama_cpp.llama_state_seq_load_file(ctx, os.fsencode(path), 0, tokens, n, ctypes.byref(count))
        if read and count.value == n and list(tokens) == prefix:
            llama.input_ids[:n] = prefix
            llama.n_tokens = n
            return "loaded"
        log.warning("prompt cache %s did not load; evaluating the prompt instead", path.name)
        llama._ctx.kv_cache_seq_rm(-1, 0, -1)
        llama.n_tokens = 0
        path.unlink(missing_ok=True)
    llama.reset()
    llama.eval(prefix)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        saved = llama_cpp.llama_state_seq_save_file(ctx, os.fsencode(tmp), 0, (llama_cpp.llama_token * n)(*prefix), n)
        if saved:
            os.replace(tmp, path)
        else:
            tmp.unlink(missing_ok=True)
    except OSError as exc:  # a read-only or full disk costs only the cache
        log.info("prompt cache not saved: %s", exc)
    return "evaluated"
