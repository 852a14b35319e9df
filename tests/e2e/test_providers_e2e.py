"""The daemon talking to each vendor's wire format on loopback, keys from a real OpenBao."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import uuid

import hvac
import pytest
from codetether.daemon.core.providers.scripted import Turn
from codetether.daemon.testing.vendor_servers import ScriptedVendorServer

VENDORS = {
    # provider name -> (vendor route recorded by the server, header carrying the key)
    "openai": ("openai", "authorization"),
    "anthropic": ("anthropic", "x-api-key"),
    "google": ("gemini", "x-goog-api-key"),
}


async def _cli(home, *args):
    proc = await asyncio.create_subprocess_exec(
        str(home.cli.__globals__["CLI"]), *args, cwd=home.workspace, env=home.env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("provider", sorted(VENDORS))
async def test_run_through_vendor_wire_format_with_key_from_vault(home, vault, provider):
    vendor, header = VENDORS[provider]
    canary = f"sk-canary-{uuid.uuid4().hex}"
    client = hvac.Client(url=vault.addr, token=vault.token)
    client.secrets.kv.v2.create_or_update_secret(
        path=f"codetether/providers/{provider}", secret={"api_key": canary}, mount_point="secret")
    client.adapter.close()
    (home.workspace / "notes.txt").write_text("the answer is 42\n")
    async with ScriptedVendorServer([Turn.tool("read_file", {"path": "notes.txt"}),
                                     Turn.text("The notes say 42.")]) as server:
        base = server.openai_base_url if provider == "openai" else server.base_url
        home.write_config(f'[default]\nprovider = "{provider}"\nmodel = "test-model"\n\n'
                          f'[providers.{provider}]\nbase_url = "{base}"\n')
        home.extra_env.update(vault.env())
        code, out, err = await _cli(home, "run", "--json", "what do the notes say?")
        assert code == 0, err
        events = [json.loads(line) for line in out.splitlines()]
        assert events[-1]["text"] == "The notes say 42."
        ends = [e for e in events if e["type"] == "tool_call_end"]
        assert ends and not ends[0]["is_error"] and "42" in ends[0]["output"]
        requests = server.requests_for(vendor)
        assert len(requests) == 2
        assert canary in requests[0].headers[header]
        # The tool result went back to the model in the vendor's own shape.
        assert "the answer is 42" in json.dumps(requests[1].body)
    logs = (home.root / "data" / "logs" / "daemon.log").read_text()
    session_files = "".join(p.read_text() for p in (home.root / "data").rglob("*.json*"))
    assert canary not in logs + out + err + session_files


def test_missing_key_says_where_it_belongs(home):
    home.write_config('[default]\nprovider = "anthropic"\nmodel = "claude-sonnet-4-20250514"\n')
    proc = home.cli("run", "hello")
    assert proc.returncode == 6, proc.stderr
    assert "secret/codetether/providers/anthropic" in proc.stderr
    assert home.json("daemon", "status")["running"]  # and the daemon keeps serving


def test_unknown_provider_from_the_cli_is_invalid_params(home):
    home.script({"text": "x"})
    proc = home.cli("run", "--model", "nosuch/model", "hello")
    assert proc.returncode == 2 and "unknown provider 'nosuch'" in proc.stderr


@pytest.mark.embedded
def test_real_generation_on_the_embedded_model(home):
    if importlib.util.find_spec("llama_cpp") is None:  # don't import it here: the daemon does
        pytest.skip("llama-cpp-python is not installed")
    (home.workspace / "greet.py").write_text('def greet(name):\n    return f"Hello, {name}!"\n')
    proc = home.cli("run", "--json", "--model", "embedded/smollm2-135m",
                    "What does greet return? See @greet.py", timeout=600)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    text = "".join(e["text"] for e in events if e["type"] == "text")
    result = events[-1]
    assert result["type"] == "result" and result["text"] == text and text.strip()
    assert result["usage"]["input_tokens"] > 50 and result["usage"]["output_tokens"] > 0
    sent = home.json("sessions", "show", result["session_id"])["messages"][0]["content"]
    assert '<file path="greet.py">' in sent  # the mention was attached for the model
