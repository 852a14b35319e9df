"""Spawn mode and delegation between two real daemons (separate CODETETHER_HOMEs, scripted
models): `codetether spawn` finds its peer within one poll, introduces itself once (a task
on the other side), `codetether peers` lists it; and agent A's model hands work to agent B
with the a2a_delegate tool and gets B's answer back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .conftest import Home, foreground


@contextmanager
def daemon(home: Home, *args: str) -> Iterator[dict[str, Any]]:
    """`codetether <args> --port 0 --json` in the foreground; yields its bound addresses."""
    with foreground(home, *args, "--port", "0", "--grpc-port", "0") as (_proc, bound):
        yield bound


def make_home(root: Path, name: str, token: str, *turns: Any, **env: str) -> Home:
    workspace = root / f"ws-{name}"
    workspace.mkdir()
    home = Home(root / name, workspace, extra_env={"CODETETHER_AUTH_TOKEN": token, **env})
    home.root.mkdir()
    home.script(*turns, fallback=f"{name} has nothing more to say")
    home.write_config(home.config_file.read_text() + f'\n[a2a]\nname = "{name}"\nworkspace = "{workspace}"\n')
    return home


@pytest.fixture
def homes(short_dir: Path) -> Iterator[list[Home]]:
    made: list[Home] = []
    yield made
    for home in made:
        home.stop()


def wait_for(check: Any, what: str, timeout: float = 30.0) -> Any:
    """Re-check a condition (each check is a CLI round trip) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
    raise AssertionError(f"timed out waiting for {what}")


def test_spawn_finds_its_peer_and_introduces_itself_once(short_dir: Path, homes: list[Home]) -> None:
    a_token, b_token = "token-of-agent-a-0123456789", "token-of-agent-b-0123456789"
    a = make_home(short_dir, "ant", a_token, {"text": "hello bee, nice to meet you"})
    b = make_home(short_dir, "bee", b_token, CODETETHER_A2A_TOKEN=a_token)
    homes += [a, b]
    with daemon(a, "serve") as at_a:
        a_url = at_a["http_url"]
        with daemon(b, "spawn", "--name", "bee", "--peer", f"http://127.0.0.1:1,{a_url}") as at_b:
            b_url = at_b["http_url"]
            card = json.loads(b.cli("a2a", "card", b_url, "--json", check=True).stdout)
            assert card["name"] == "bee"  # spawn's name, not [a2a] name

            def introduced() -> dict[str, Any] | None:
                rows = {r["url"]: r for r in b.json("peers")}
                peer = rows.get(a_url)
                return peer if peer and peer["introduced"] else None

            peer = wait_for(introduced, "bee to register and greet ant")
            assert peer["name"] == "ant" and peer["card"]["name"] == "ant" and peer["last_seen"]
            assert peer["error"] is None
            assert "http://127.0.0.1:1" not in {r["url"] for r in b.json("peers")}
            human = b.cli("peers", check=True).stdout
            assert "ant" in human and a_url in human and "introduced" in human

            listed = json.loads(a.cli("a2a", "tasks", a_url, "--json", "--token", a_token, check=True).stdout)
            hellos = [t for t in listed["tasks"]
                      if t["history"][0]["parts"][0]["text"].startswith("Hello from bee")]
            assert len(hellos) == 1
            assert hellos[0]["history"][0]["parts"][0]["text"] == \
                f"Hello from bee at {b_url}/.well-known/agent-card.json"
            assert hellos[0]["metadata"]["principal"] == "a2a:bearer"


def test_spawn_without_introductions_and_peers_from_the_environment(short_dir: Path, homes: list[Home]) -> None:
    a = make_home(short_dir, "ant", "token-of-agent-a-0123456789")
    homes.append(a)
    with daemon(a, "serve") as at_a:
        b = make_home(short_dir, "bee", "token-of-agent-b-0123456789", CODETETHER_A2A_PEERS=at_a["http_url"])
        homes.append(b)
        with daemon(b, "spawn", "--name", "bee", "--no-auto-introduce"):
            rows = wait_for(lambda: b.json("peers"), "bee to register ant")
            assert [(r["name"], r["introduced"]) for r in rows] == [("ant", False)]
        a_tasks = json.loads(a.cli("a2a", "tasks", at_a["http_url"], "--json", "--token",
                                   "token-of-agent-a-0123456789", check=True).stdout)
        assert a_tasks.get("tasks", []) == []
    refused = b.cli("spawn", "--name", "x", "--poll-interval", "1", "--port", "0")
    assert refused.returncode == 2 and "at least 5 seconds" in refused.stderr


def test_agent_a_delegates_to_agent_b_with_the_tool(short_dir: Path, homes: list[Home]) -> None:
    b_token = "token-of-agent-b-0123456789"
    b = make_home(short_dir, "bee", b_token, {"text": "bee's answer: 42"})
    homes.append(b)
    with daemon(b, "serve") as at_b:
        a = make_home(short_dir, "ant", "token-of-agent-a-0123456789",
                      {"tool": "a2a_delegate", "arguments": {"peer": "bee", "message": "what is six times seven?"}},
                      {"text": "bee says 42"}, BEE_TOKEN=b_token)
        homes.append(a)
        a.write_config(a.config_file.read_text()
                       + f'\n[a2a.peers.bee]\nurl = "{at_b["http_url"]}"\ntoken_env = "BEE_TOKEN"\n')
        done = a.cli("run", "--yes", "ask bee", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        session = a.json("sessions", "list")[0]["id"]
        messages = a.json("sessions", "show", session)["messages"]
        [result] = [m for m in messages if m["role"] == "tool"]
        assert result["name"] == "a2a_delegate"
        assert result["content"].startswith("[bee completed]\nbee's answer: 42")
        assert messages[-1]["content"] == "bee says 42"
        b_tasks = json.loads(b.cli("a2a", "tasks", at_b["http_url"], "--json", "--token", b_token).stdout)
        assert [t["history"][0]["parts"][0]["text"] for t in b_tasks["tasks"]] == ["what is six times seven?"]
