"""The embedded local model: a small GGUF shipped by a PyPI package, run by llama-cpp-python.

Needs no key and no network. ``llama_cpp`` is imported, and the model loaded, on the
first request only, so an idle daemon stays small. Generation runs on a worker
thread that feeds an ``asyncio.Queue`` through ``loop.call_soon_threadsafe``;
cancelling the stream sets a stop flag the sampler checks at every token.
Tool calls are text (see :mod:`._tooltext`).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import CodetetherError, ConfigError, ProviderError
from ...wire.messages import Usage
from ._gguf import (
    DEFAULT_MODEL,
    EMBEDDED_MODELS,
    EmbeddedModel,
    find_model_file,
    models_dir,
    pull_model,
    unknown_model_error,
)
from ._kvcache import common_prefix, reuse_prefix
from ._tooltext import (
    ToolCallTextParser,
    render_assistant,
    render_tool_prompt,
    render_tool_result,
)
from .base import (
    CompletionRequest,
    ModelInfo,
    ProgressReport,
    ProviderCredentials,
    ProviderEvent,
    StreamDone,
    UsageReport,
)

__all__ = ["EMBEDDED_MODELS", "EmbeddedModel", "EmbeddedProvider", "find_model_file", "to_chat_messages"]


# For a custom .gguf without an embedded template: ChatML, the most common one.
_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def to_chat_messages(request: CompletionRequest) -> list[dict[str, str]]:
    """Our transcript as plain chat-template messages.

    Tool results become user turns holding ``<tool_response>`` blocks and consecutive
    same-role turns are merged: templates such as Gemma's allow only
    system/user/assistant in strict alternation.
    """
    # The tool prompt first: it is the same for every run and workspace (the agent's
    # system text names the workspace), so llama.cpp can reuse its evaluated state.
    system = [render_tool_prompt(request.tools)] if request.tools else []
    if request.system:
        system.append(request.system)
    turns: list[dict[str, str]] = []
    for m in request.messages:
        if m.role == "system":
            system.append(m.content)
            continue
        role, text = {
            "user": ("user", m.content),
            "assistant": ("assistant", render_assistant(m)),
            "tool": ("user", render_tool_result(m)),
        }[m.role]
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + text
        else:
            turns.append({"role": role, "content": text})
    head = [{"role": "system", "content": "\n\n".join(system)}] if system else []
    return head + turns


log = logging.getLogger("codetether.providers.embedded")


class _SharedModel:
    """One loaded model per (path, n_ctx), shared by every session.

    ``lock`` guards the lazy load and every generation: a llama.cpp context holds
    one sequence's state and is not thread-safe.
    """

    def __init__(self, path: Path, n_ctx: int, n_threads: int | None) -> None:
        self.path, self.n_ctx, self.n_threads = path, n_ctx, n_threads
        self.lock = threading.Lock()
        self._llama: Any = None

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    def load(self) -> Any:
        """The Llama instance (call with ``lock`` held)."""
        if self._llama is None:
            try:
                import llama_cpp  # deferred: ~100 MB of native code the idle daemon never needs
            except ImportError as exc:
                raise ConfigError(
                    f"the embedded model needs llama-cpp-python ({exc}): pip install 'codetether[embedded]'"
                ) from exc

            self._llama = llama_cpp.Llama(
                model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False
            )
            # Free it while llama_cpp is still whole: its __del__ at interpreter teardown
            # finds the module's functions already gone and prints a TypeError.
            atexit.register(self.close)
        return self._llama

    def close(self) -> None:
        llama, self._llama = self._llama, None
        if llama is not None:
            llama.close()


_SHARED: dict[tuple[str, int], _SharedModel] = {}
_SHARED_LOCK = threading.Lock()  # guards _SHARED


def _shared_model(path: Path, n_ctx: int, n_threads: int | None) -> _SharedModel:
    with _SHARED_LOCK:
        key = (str(path), n_ctx)
        if key not in _SHARED:
            _SHARED[key] = _SharedModel(path, n_ctx, n_threads)
        return _SHARED[key]


@dataclass(slots=True)
class _Finished:
    usage: Usage
    finish_reason: str


def _generate(
    shared: _SharedModel,
    messages: list[dict[str, str]],
    options: dict[str, Any],
    stop: threading.Event,
    put: Callable[[object], None],
) -> None:
    """Worker-thread body: wait for the model, format, sample, report via ``put``."""
    try:
        # Poll so a cancelled request waiting behind another generation leaves promptly.
        while not shared.lock.acquire(timeout=0.05):
            if stop.is_set():
                return
        try:
            if not shared.loaded:
                put(ProgressReport("loading_model", shared.path.name))
            llama = shared.load()
            from llama_cpp.llama import StoppingCriteriaList
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            eos, bos = llama.token_eos(), llama.token_bos()
            formatter = Jinja2ChatFormatter(
                template=llama.metadata.get("tokenizer.chat_template") or options.get("template") or _CHATML,
                eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
                bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
                stop_token_ids=[eos],
            )
            formatted = formatter(messages=messages)  # type: ignore[arg-type]  # TypedDicts upstream
            prompt = llama.tokenize(formatted.prompt.encode(), add_bos=not formatted.added_special, special=True)
            if len(prompt) + 1 >= llama.n_ctx():
                raise ProviderError(f"embedded: prompt of {len(prompt)} tokens exceeds n_ctx {llama.n_ctx()}")
            head: str = options.get("cache_prefix") or ""
            cache_dir: Path | None = options.get("cache_dir")
            cut = formatted.prompt.find(head) if head and cache_dir else -1
            if cut >= 0 and cache_dir is not None:
                # The tool prompt's tokens (as they start the whole prompt): evaluated once, then reused.
                text = formatted.prompt[: cut + len(head)].encode()
                head_tokens = llama.tokenize(text, add_bos=not formatted.added_special, special=True)
                n = common_prefix(head_tokens, prompt)
                how = reuse_prefix(llama, prompt[:n], shared.path, cache_dir)
                log.debug("tool prompt (%d tokens): %s", n, how)
            sampled = 0

            def keep_going(_ids: Any, _logits: Any) -> bool:
                nonlocal sampled
                sampled += 1
                return stop.is_set()

            stops = formatted.stop or []
            stops = [stops] if isinstance(stops, str) else list(stops)
            stops += ["<|im_end|>", "<end_of_turn>"]  # ChatML's and Gemma's turn ends, whatever the EOS token
            finish = "stop"
            cached = common_prefix(llama.input_ids[: llama.n_tokens].tolist(), prompt[:-1])
            put(ProgressReport("prompt", tokens=len(prompt) - cached))  # what is left to read
            for chunk in llama.create_completion(
                prompt,
                max_tokens=options["max_tokens"],
                temperature=options["temperature"],
                repeat_penalty=options["repeat_penalty"],
                stop=stops,
                stopping_criteria=StoppingCriteriaList([keep_going]),
                grammar=_grammar(options.get("response_schema")),
                stream=True,
            ):
                choice = chunk["choices"][0]
                if choice.get("text"):
                    put(choice["text"])
                finish = choice.get("finish_reason") or finish
                if stop.is_set():
                    return
            # llama-cpp asks the criterion once per sampled token and once more after
            # the loop; that last call is not a token.
            put(_Finished(Usage(len(prompt), max(0, sampled - 1)), finish))
        finally:
            shared.lock.release()
    except Exception as exc:  # handed to the event loop, which raises it there
        put(exc)


class EmbeddedProvider:
    """The embedded provider. Settings: ``model`` (default id), ``model_path``
    (any .gguf, overriding the packaged file), ``n_ctx``, ``n_threads``,
    ``temperature``, ``repeat_penalty``."""

    def __init__(
        self,
        name: str = "embedded",
        creds: ProviderCredentials | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self._settings = dict(settings or {})
        self._closed = False

    def _resolve(self, model_id: str) -> tuple[Path | None, EmbeddedModel | None, int]:
        """The model file (None: a known model not downloaded yet), its entry, n_ctx."""
        model_id = model_id or str(self._settings.get("model") or DEFAULT_MODEL)
        known = EMBEDDED_MODELS.get(model_id)
        configured = self._settings.get("model_path")
        path: Path | None
        if configured:
            path = Path(str(configured)).expanduser()
            if not path.is_file():
                raise ConfigError(f"embedded model_path {str(path)!r} is not a file")
        elif known is None:
            raise unknown_model_error(model_id)
        else:
            path = find_model_file(model_id)
        n_ctx = int(self._settings.get("n_ctx") or (known.n_ctx if known else 4096))
        return path, known, n_ctx

    def _pull(self, model: EmbeddedModel) -> Path:
        """First use of a model that is not downloaded: fetch it (setting ``auto_pull``,
        default on), saying so in the log; a failure names the command to run."""
        if not self._settings.get("auto_pull", True):
            raise ConfigError(f"embedded model {model.id!r} is not downloaded: run `codetether models pull {model.id}`")
        log.warning("embedded model %s is not downloaded yet: fetching it once through the package index "
                    "(about 100 MB)", model.id)
        try:
            return pull_model(model.id, say=log.info)
        except (ConfigError, ProviderError) as exc:
            raise ConfigError(f"embedded model {model.id!r} is not downloaded and fetching it failed "
                              f"({exc.message}); run `codetether models pull {model.id}`") from exc

    async def stream(self, request: CompletionRequest) -> AsyncIterator[ProviderEvent]:
        """Generate one turn on the shared local model."""
        if self._closed:
            raise ProviderError(f"provider {self.name!r} is closed")
        path, known, n_ctx = self._resolve(request.model)
        if path is None:
            assert known is not None
            yield ProgressReport("loading_model", f"downloading {known.filename} once, through the package index")
            path = await asyncio.to_thread(self._pull, known)
        threads = self._settings.get("n_threads")
        shared = _shared_model(path, n_ctx, int(threads) if threads else None)
        options = {
            "template": known.chat_template if known else "",
            "cache_prefix": render_tool_prompt(request.tools) if request.tools else "",
            "cache_dir": models_dir() / "prompt-cache" if self._settings.get("prompt_cache", True) else None,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature if request.temperature is not None
            else float(self._settings.get("temperature", 0.3)),  # small models ramble when hot
            "repeat_penalty": float(self._settings.get("repeat_penalty", 1.1)),
            "response_schema": request.response_schema,
        }
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()  # unbounded: tokens are tiny, one producer
        stop = threading.Event()

        def put(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # loop already closed: nobody is listening any more
                stop.set()

        worker = loop.run_in_executor(None, _generate, shared, to_chat_messages(request), options, stop, put)
        parser = ToolCallTextParser(lambda: f"call_{uuid.uuid4().hex[:24]}")
        try:
            while True:
                item = await queue.get()
                if isinstance(item, str):
                    for event in parser.feed(item):
                        yield event
                elif isinstance(item, ProgressReport):
                    yield item
                elif isinstance(item, _Finished):
                    finished = item
                    break
                elif isinstance(item, CodetetherError):
                    raise item
                elif isinstance(item, BaseException):
                    raise ProviderError(f"embedded model failed: {type(item).__name__}: {item}") from item
            for event in parser.finish():
                yield event
            yield UsageReport(finished.usage)
            if parser.calls:
                yield StreamDone("tool_use")
            else:
                yield StreamDone("max_tokens" if finished.finish_reason == "length" else "end_turn")
        finally:
            stop.set()
            # Wait for the worker so the model lock is free when the stream returns;
            # with the stop flag set it leaves within one token.
            await asyncio.shield(worker)

    async def list_models(self) -> list[ModelInfo]:
        """The embedded models whose packages are installed (or the configured file)."""
        models = [
            ModelInfo(provider=self.name, id=m.id, context_window=m.n_ctx)
            for m in EMBEDDED_MODELS.values()
            if find_model_file(m.id) is not None
        ]
        if self._settings.get("model_path") and self._settings.get("model") not in EMBEDDED_MODELS:
            n_ctx = int(self._settings.get("n_ctx") or 4096)
            models.append(ModelInfo(self.name, str(self._settings.get("model") or "custom"), n_ctx))
        return models

    async def aclose(self) -> None:
        # The loaded model stays in the process-wide cache for other sessions.
        self._closed = True


def _grammar(schema: dict[str, Any] | None) -> Any:
    """Structured output for the local model: a grammar that only lets it write JSON
    following ``schema`` (any JSON when the schema cannot be turned into one)."""
    if schema is None:
        return None
    import json

    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    try:
        return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    except Exception:  # noqa: BLE001 - a schema llama.cpp cannot compile still gets JSON
        log.debug("embedded: schema not compiled to a grammar; plain JSON grammar instead", exc_info=True)
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
