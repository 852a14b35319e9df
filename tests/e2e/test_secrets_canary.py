"""S4 / issue 7 item 3: one redactor at every write and at the client boundary.

A canary key in a real OpenBao and another in the client's environment; a scripted
model (the OpenAI and Anthropic wire formats on loopback) echoes them whole and split
across streamed deltas, in text, tool arguments, tool output, the todo list, and a
401 body. Afterwards no file under CODETETHER_HOME and no client output holds either,
every file under the data dir is 0600 and every dir 0700.
"""

from __future__ import annotations

import asyncio
import json
import stat
import uuid

import hvac
from codetether.daemon.core.providers.scripted import Turn
from codetether.daemon.testing.vendor_servers import ScriptedVendorServer


async def _cli(home, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(home.cli.__globals__["CLI"]), *args, cwd=home.workspace, env=home.env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def _leaks(turns_key: str) -> list[Turn]:
    """Every place a model can put a key: text (split across deltas by the server),
    tool arguments, tool output (stdout and stderr), the todo list (session metadata)."""
    return [
        Turn.tool("bash", {"command": f"echo out {turns_key}; echo err {turns_key} >&2"}),
        Turn.tool("todo_write", {"todos": [{"content": f"rotate {turns_key}", "status": "pending"}]}),
        Turn.text(f"the key is {turns_key}, and again: {turns_key}."),
    ]


async def test_S4_canary_keys_reach_no_file_and_no_client_output(home, vault):
    vault_key = f"sk-vault-canary-{uuid.uuid4().hex}"
    env_key = f"sk-ant-env-canary-{uuid.uuid4().hex}"
    client = hvac.Client(url=vault.addr, token=vault.token)
    client.secrets.kv.v2.create_or_update_secret(
        path="codetether/providers/openai", secret={"api_key": vault_key}, mount_point="secret")
    client.adapter.close()
    outputs: list[str] = []
    # pieces=5: each text and argument string arrives in five deltas, so each key is split.
    async with ScriptedVendorServer(pieces=5) as server:
        home.write_config(
            f'[default]\nprovider = "openai"\nmodel = "m"\n\n[secrets]\nallow_env = true\n\n'
            f'[providers.openai]\nbase_url = "{server.openai_base_url}"\n\n'
            f'[providers.anthropic]\nbase_url = "{server.base_url}"\n')
        home.extra_env.update(vault.env())
        server.add(*_leaks(vault_key))
        code, out, err = await _cli(home, "run", "--yes", "--json", "leak the vault key")
        assert code == 0, err
        outputs += [out, err]
        # The split text really arrived as several deltas and was put back together.
        texts = [json.loads(line) for line in out.splitlines()]
        said = "".join(e["text"] for e in texts if e["type"] == "text")
        assert said == "the key is [REDACTED], and again: [REDACTED]."
        sid = texts[-1].get("session_id") or json.loads(
            (await _cli(home, "sessions", "list", "--json"))[1])[0]["id"]

        # The key a client forwards from its own environment (C5) is redacted the same way.
        home.extra_env["ANTHROPIC_API_KEY"] = env_key
        server.add(*_leaks(env_key))
        code, out, err = await _cli(home, "run", "--yes", "--json", "-m", "anthropic/claude-x",
                                    "leak the env key")
        assert code == 0, err
        assert any(r.headers.get("x-api-key") == env_key for r in server.requests_for("anthropic"))
        outputs += [out, err]

        # A 401 whose body echoes the key.
        server.add({"error": 401, "message": f"Incorrect API key provided: {vault_key}"})
        code, out, err = await _cli(home, "run", "--json", "now fail")
        assert code == 6, (code, out, err)
        outputs += [out, err]

        for args in (("sessions", "show", sid, "--json"), ("events", "reconstruct", sid, "--json"),
                     ("events", "show", sid, "--json"), ("audit", "recent", "--json"),
                     ("telemetry", "export", "--json"), ("approvals", "list", "--json")):
            code, out, err = await _cli(home, *args)
            assert code == 0, (args, err)
            outputs += [out, err]
    home.stop()

    for text in outputs:
        assert vault_key not in text and env_key not in text
    assert "[REDACTED]" in "".join(outputs)
    scanned = 0
    for path in home.root.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            if path.is_relative_to(home.root / "data"):
                assert mode == 0o700, (path, oct(mode))
            continue
        scanned += 1
        data = path.read_bytes()
        assert vault_key.encode() not in data and env_key.encode() not in data, path
        if path.is_relative_to(home.root / "data"):
            assert mode == 0o600, (path, oct(mode))
    names = {p.name for p in home.root.rglob("*")}
    assert {"transcript.jsonl", "meta.json", "approvals.jsonl", "events.jsonl", "audit.jsonl",
            "daemon.log"} <= names
    assert scanned >= 8
