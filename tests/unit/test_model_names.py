"""Model names a user gets wrong: a "did you mean" (C9) and models that cannot run refused (C10)."""

from __future__ import annotations

import pytest
from codetether.daemon.core.config import Config, parse_config
from codetether.daemon.core.providers._models import ModelResolver, check_model, suggest_model
from codetether.daemon.errors import ConfigError, InvalidParams


def _resolver(config: Config) -> ModelResolver:
    return ModelResolver(config, secrets=None)  # type: ignore[arg-type]  # resolve() never reads secrets


@pytest.mark.parametrize(("name", "meant"), [
    ("gpt-4o", "openai/gpt-4o"),  # C9: the finding's example
    ("claude-sonnet-4-20250514", "anthropic/claude-sonnet-4-20250514"),
    ("kimi-k2.5", "moonshotai/kimi-k2.5"),
    ("smollm2", "embedded/smollm2-135m"),
    ("gemma3", "embedded/gemma3-270m"),
])
def test_a_bare_model_of_another_provider_gets_a_suggestion(name, meant):  # C9
    assert suggest_model(name, Config()) == meant
    with pytest.raises(InvalidParams, match=f"unknown embedded model '{name}'; did you mean '{meant}'"):
        _resolver(Config()).resolve(name)


def test_no_suggestion_when_nothing_is_close():
    assert suggest_model("zzzz-qqqq", Config()) is None
    with pytest.raises(InvalidParams, match="unknown embedded model 'zzzz-qqqq' .*smollm2-135m, gemma3-270m"):
        _resolver(Config()).resolve("zzzz-qqqq")


def test_configured_models_are_suggested_too():
    config = parse_config('[providers.lab]\nbase_url = "http://127.0.0.1:9/v1"\nmodels = ["qwen3-coder"]\n').config
    assert suggest_model("qwen3-coder", config) == "lab/qwen3-coder"


def test_a_custom_gguf_under_embedded_is_not_second_guessed(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    config = parse_config(f'[providers.embedded]\nmodel_path = "{gguf}"\n').config
    assert _resolver(config).resolve("my-model").label == "embedded/my-model"


def test_check_model_names_the_pull_command(tmp_path, monkeypatch):  # C10
    monkeypatch.setenv("CODETETHER_MODELS", str(tmp_path))  # nothing pulled here
    with pytest.raises(ConfigError, match=r"'gemma3-270m' is not downloaded: run `codetether models pull gemma3-270m`"):
        check_model("embedded/gemma3-270m", Config())
    with pytest.raises(ConfigError, match="did you mean 'openai/gpt-4o'"):
        check_model("gpt-4o", Config())
    assert check_model("anthropic", Config()).label == "anthropic/claude-sonnet-4-20250514"


async def test_resolutions_are_remembered_per_config_and_errors_are_not():
    first = parse_config('[default]\nprovider = "lab"\nmodel = "a"\n\n'
                         '[providers.lab]\nbase_url = "http://127.0.0.1:9/v1"\ncontext_window = 1000\n').config
    resolver = _resolver(first)
    assert resolver.resolve(None).label == "lab/a" and resolver.resolve(None) is resolver.resolve(None)
    assert resolver._settings("lab")["context_window"] == 1000
    resolver._settings("lab")["context_window"] = 5  # a copy: the remembered one stays
    assert resolver._settings("lab")["context_window"] == 1000
    for _ in range(2):
        with pytest.raises(InvalidParams, match="unknown provider 'nope'"):
            resolver.resolve("nope/x")
    second = parse_config('[default]\nprovider = "lab"\nmodel = "b"\n\n'
                          '[providers.lab]\nbase_url = "http://127.0.0.1:9/v1"\ncontext_window = 2000\n').config
    await resolver.reconfigure(second, secrets=None)  # type: ignore[arg-type]
    assert resolver.resolve(None).label == "lab/b" and resolver.resolve("lab/x").context_window == 2000
    assert resolver._settings("lab")["context_window"] == 2000
