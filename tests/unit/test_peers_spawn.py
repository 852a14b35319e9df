"""Spawn mode's flags as the runner reads them (``python -m codetether.daemon spawn ...``),
and the card's name it sets, kept across a config reload."""

from __future__ import annotations

import pytest
from codetether.daemon.core.config import LoadedConfig, parse_config
from codetether.daemon.runner import ServeOptions, SpawnOptions, _spawn_named, _spawn_options


def test_spawn_flags_peers_from_flags_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODETETHER_A2A_PEERS", "http://c:3, http://a:1")
    options = _spawn_options(["spawn", "--name", "bee", "--peer", "http://a:1,http://b:2", "--port", "0",
                              "--grpc-port", "-1", "--poll-interval", "7.5", "--no-auto-introduce", "--json"])
    assert options == SpawnOptions(http="127.0.0.1:0", grpc=None, print_json=True, name="bee",
                                   peers=("http://a:1", "http://b:2", "http://c:3"), poll_interval=7.5,
                                   auto_introduce=False)
    monkeypatch.delenv("CODETETHER_A2A_PEERS")
    plain = _spawn_options(["spawn", "--name", "x"])
    assert plain.peers == () and plain.poll_interval == 15.0 and plain.auto_introduce


@pytest.mark.parametrize("argv", [["spawn"], ["spawn", "--name", "x", "--poll-interval", "4.9"],
                                  ["spawn", "--name", "x", "--bogus"]])
def test_bad_spawn_flags_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _spawn_options(argv)
    assert exited.value.code == 2


def test_the_spawned_name_wins_over_the_config() -> None:
    loaded = LoadedConfig(parse_config('[a2a]\nname = "configured"\ndescription = "d"\n').config, ["w"])
    named = _spawn_named(loaded, SpawnOptions(name="bee"))
    assert named.config.a2a.name == "bee" and named.config.a2a.description == "d" and named.warnings == ["w"]
    assert _spawn_named(loaded, ServeOptions()) is loaded and _spawn_named(loaded, None) is loaded
