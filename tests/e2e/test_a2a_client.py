"""`codetether a2a card|send|tasks` as a user runs them, against a real `codetether serve`
(scripted model) on every transport: JSON-RPC, HTTP+JSON and gRPC, streaming, and the
errors a user meets (a refused token, an agent that is not there, an unknown task)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .conftest import CLI, Home, foreground


@dataclass
class Served:
    url: str
    grpc: str
    token: str
    home: Home

    def a2a(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**self.home.env, "CODETETHER_A2A_TOKEN": self.token if token is None else token}
        return subprocess.run([CLI, "a2a", *args], env=env, text=True, capture_output=True, timeout=120,
                              stdin=subprocess.DEVNULL, cwd=self.home.workspace)


@pytest.fixture
def served(home: Home) -> Iterator[Served]:
    home.script(*({"text": f"answer {i}"} for i in range(30)))
    home.write_config(home.config_file.read_text() + f'\n[a2a]\nname = "served"\nworkspace = "{home.workspace}"\n')
    with foreground(home, "serve", "--port", "0", "--grpc-port", "0") as (_proc, bound):
        token = home.cli("auth", "token", check=True).stdout.strip()
        yield Served(bound["http_url"], bound["grpc_address"], token, home)


def test_the_card(served: Served) -> None:
    shown = served.a2a("card", served.url)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("served ")
    assert f"JSONRPC    {served.url}" in shown.stdout and f"GRPC       {served.grpc}" in shown.stdout
    assert "capabilities: streaming, push notifications, extended card" in shown.stdout
    assert "coding: Write and change code" in shown.stdout and "bearer (HTTP Bearer)" in shown.stdout
    card = json.loads(served.a2a("card", served.url, "--json").stdout)
    assert card["name"] == "served" and len(card["supportedInterfaces"]) == 3


@pytest.mark.parametrize("transport", ["jsonrpc", "http", "grpc"])
def test_send_get_list_cancel_on_each_transport(served: Served, transport: str) -> None:
    sent = served.a2a("send", served.url, "hello", "there", "--transport", transport)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("answer ")
    binding = {"jsonrpc": "JSONRPC", "http": "HTTP+JSON", "grpc": "GRPC"}[transport]
    assert f"[served over {binding} at " in sent.stderr and " completed (context " in sent.stderr

    [event] = [json.loads(line) for line in
               served.a2a("send", served.url, "again", "--transport", transport, "--json").stdout.splitlines()]
    task = event["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task["history"][0]["parts"] == [{"text": "again"}]

    follow = served.a2a("send", served.url, "more", "--context", task["contextId"], "--json",
                        "--transport", transport)
    assert json.loads(follow.stdout)["task"]["contextId"] == task["contextId"]

    got = served.a2a("tasks", served.url, "get", task["id"], "--transport", transport)
    assert got.returncode == 0 and got.stdout.startswith(f"task {task['id']} completed")
    listed = served.a2a("tasks", served.url, "--transport", transport)
    assert task["id"] in listed.stdout
    ids = [t["id"] for t in json.loads(served.a2a("tasks", served.url, "list", "--json").stdout)["tasks"]]
    assert task["id"] in ids
    cancel = served.a2a("tasks", served.url, "cancel", task["id"], "--transport", transport)
    assert cancel.returncode == 1 and task["id"] in cancel.stderr and "cancel" in cancel.stderr, cancel.stderr
    missing = served.a2a("tasks", served.url, "get", "no-such-task", "--transport", transport)
    assert missing.returncode == 4 and "no-such-task" in missing.stderr


@pytest.mark.parametrize("transport", ["jsonrpc", "grpc"])
def test_streaming_shows_each_update(served: Served, transport: str) -> None:
    shown = served.a2a("send", served.url, "stream it", "--stream", "--transport", transport)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("answer ")
    status = [line for line in shown.stderr.splitlines() if line.startswith("[")]
    assert status[1].startswith("[task ") and " submitted " in status[1]
    assert status[2:] == ["[working]", "[completed]"]

    lines = served.a2a("send", served.url, "stream json", "--stream", "--json", "--transport", transport)
    kinds = [next(iter(json.loads(line))) for line in lines.stdout.splitlines()]
    assert kinds[0] == "task" and "artifactUpdate" in kinds and kinds[-1] == "statusUpdate"
    assert json.loads(lines.stdout.splitlines()[-1])["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


@pytest.mark.parametrize("transport", ["jsonrpc", "http", "grpc"])
def test_a_refused_token_and_an_agent_not_there(served: Served, transport: str) -> None:
    refused = served.a2a("send", served.url, "hi", "--transport", transport, token="wrong-token-0123456789")
    assert refused.returncode == 6
    assert f"codetether: the agent at {served.url} refused the token" in refused.stderr
    assert served.token not in refused.stderr + refused.stdout
    flag = served.a2a("tasks", served.url, "--token", "also-wrong", "--transport", transport, "--json")
    assert flag.returncode == 6 and json.loads(flag.stdout)["error"]["code"] == -31011

    gone = served.a2a("send", "http://127.0.0.1:1", "hi", "--transport", transport)
    assert gone.returncode == 3 and "cannot reach the agent at http://127.0.0.1:1" in gone.stderr


def test_a_transport_the_agent_does_not_offer(home: Home) -> None:
    import http.server
    import threading

    class Card(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"name": "old", "supportedInterfaces": [
                {"protocolBinding": "JSONRPC", "url": "http://127.0.0.1:1"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Card) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        done = home.cli("a2a", "send", url, "hi", "--transport", "grpc")
        server.shutdown()
        thread.join()
    assert done.returncode == 2 and f"the agent at {url} offers no GRPC interface (it offers: JSONRPC)" in done.stderr
