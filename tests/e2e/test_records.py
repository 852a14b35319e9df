"""Telemetry, the audit trail and event streams through the real daemon and CLI."""

from __future__ import annotations

import json
import time


def _run_write(home, content="hi\n"):
    home.script({"tool": "write_file", "arguments": {"path": "out.txt", "content": content}},
                {"text": "Wrote it."})
    proc = home.cli("run", "--yes", "--json", "write out.txt")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])["session_id"]


def test_stats_count_tools_and_tokens_and_survive_a_restart(home):
    _run_write(home)
    stats = home.json("stats")
    tools = stats["tools"]
    assert tools["write_file"]["count"] == 1 and tools["write_file"]["failures"] == 0
    assert "scripted" in json.dumps(stats["models"])
    assert home.json("stats", "--since", str(time.time() + 3600))["tools"] == {}

    home.json("daemon", "stop")
    again = home.json("stats")  # a fresh daemon, from disk
    assert again["tools"]["write_file"]["count"] == 1
    for key in ("total_executions", "total_requests", "total_input_tokens", "total_output_tokens"):
        assert again[key] == stats[key] > 0, key
    human = home.cli("stats", check=True).stdout
    assert "write_file" in human and "scripted/scripted" in human


def test_html_report_is_self_contained(home, short_dir):
    _run_write(home)
    target = short_dir / "report.html"
    done = home.json("telemetry", "report", "--html", str(target))
    assert done["bytes"] == target.stat().st_size > 10_000
    page = target.read_text()
    assert "write_file" in page and "<script src=\"http" not in page


def test_audit_records_calls_tools_and_approvals_and_detects_tampering(home):
    sid = _run_write(home)
    entries = home.json("audit", "recent", "--limit", "200")
    kinds = {(e["category"], e["action"]) for e in entries}
    assert ("api", "session/prompt") in kinds and ("tool", "write_file") in kinds
    assert ("session", "run_end") in kinds
    approval = next(e for e in entries if e["category"] == "approval")
    assert approval["principal"] == "policy" and approval["resource"] == "out.txt"
    assert approval["session_id"] == sid
    tools = home.json("audit", "query", "--category", "tool", "--session", sid)
    assert [e["action"] for e in tools] == ["write_file"]
    assert home.json("audit", "query", "--principal", "nobody") == []

    assert home.json("audit", "verify")["ok"]
    log = home.root / "data" / "audit" / "audit.jsonl"
    lines = log.read_text().splitlines()
    edited = json.loads(lines[2])
    edited["outcome"] = "denied" if edited["outcome"] != "denied" else "success"
    lines[2] = json.dumps(edited, separators=(",", ":"))
    log.write_text("\n".join(lines) + "\n")
    proc = home.cli("audit", "verify", "--file", str(log), "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["first_bad_line"] == 3


def test_event_stream_has_real_offsets_and_reconstructs_the_session(home):
    sid = _run_write(home)
    events = home.json("events", "show", sid)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "user" and "tool_call_start" in kinds and kinds[-1] == "done"
    raw = (home.root / "data" / "events" / sid / "events.jsonl").read_bytes()
    for e in events:
        line = raw[e["offset"]:raw.index(b"\n", e["offset"])]
        assert json.loads(line)["seq"] == e["seq"]
    middle = events[len(events) // 2]
    assert home.json("events", "read", sid, str(middle["seq"]))["kind"] == middle["kind"]
    assert home.json("events", "show", sid, "--from", str(middle["seq"]))[0]["seq"] == middle["seq"]

    rec = home.json("events", "reconstruct", sid)
    assert any(c["path"] == "out.txt" for c in rec["file_changes"])
    assert "Wrote it." in json.dumps(rec["messages"])
    proc = home.cli("events", "read", sid, "99999")
    assert proc.returncode == 4


def test_unwritable_stores_degrade_and_the_daemon_keeps_serving(home):
    data = home.root / "data"
    data.mkdir(parents=True)
    (data / "telemetry").write_text("not a directory")
    (data / "events").write_text("not a directory")
    sid = _run_write(home)  # runs fine without its records
    status = home.json("daemon", "status")
    assert status["degraded"]
    assert not status["health"]["events"]["ok"] and status["health"]["events"]["error"]
    assert status["health"]["audit"]["ok"]
    assert home.json("audit", "query", "--session", sid)  # what it can still write is kept
    log = (data / "logs" / "daemon.log").read_text()
    assert log.count("ERROR") <= 4  # one clear error per store, not one per record


def test_corrupt_records_are_skipped_not_fatal(home):
    sid = _run_write(home)
    home.json("daemon", "stop")
    events = home.root / "data" / "events" / sid / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    lines[1] = b"{garbage\n"
    events.write_bytes(b"".join(lines))
    for segment in (home.root / "data" / "telemetry").glob("*.jsonl"):
        with segment.open("ab") as fh:
            fh.write(b'{"torn": ')
    assert home.json("stats")["tools"]["write_file"]["count"] == 1
    assert home.json("events", "read", sid, "0")["kind"] == "user"
    proc = home.cli("events", "read", sid, "1")
    assert proc.returncode != 0 and "not a valid record" in proc.stderr
    assert home.json("daemon", "status")["running"]


async def test_a_vault_key_never_reaches_logs_telemetry_audit_or_events(home, vault):
    import asyncio
    import uuid

    import hvac
    from codetether.daemon.core.providers.scripted import Turn
    from codetether.daemon.testing.vendor_servers import ScriptedVendorServer

    canary = f"sk-canary-{uuid.uuid4().hex}"
    client = hvac.Client(url=vault.addr, token=vault.token)
    client.secrets.kv.v2.create_or_update_secret(
        path="codetether/providers/openai", secret={"api_key": canary}, mount_point="secret")
    client.adapter.close()
    # A model that leaks the key: in its text, and in a tool call's arguments and output.
    turns = [Turn.tool("bash", {"command": f"echo {canary}"}), Turn.text(f"the key is {canary}")]
    async with ScriptedVendorServer(turns) as server:
        home.write_config(f'[default]\nprovider = "openai"\nmodel = "m"\n\n'
                          f'[providers.openai]\nbase_url = "{server.openai_base_url}"\n')
        home.extra_env.update(vault.env())
        proc = await asyncio.create_subprocess_exec(
            str(home.cli.__globals__["CLI"]), "run", "--yes", "--json", "leak it", cwd=home.workspace,
            env=home.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err
    home.stop()
    records = ["logs", "telemetry", "audit", "events"]
    scanned = 0
    for name in records:
        for path in (home.root / "data" / name).rglob("*"):
            if path.is_file():
                scanned += 1
                assert canary.encode() not in path.read_bytes(), path
    assert scanned >= 4
    assert b"[REDACTED]" in b"".join(p.read_bytes() for p in (home.root / "data" / "events").rglob("*.jsonl"))
