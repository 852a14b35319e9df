"""`codetether okr` through the real daemon: create from flags, from a file and on a
terminal (a real pty), list/status/runs/stats/export/report in text, JSON and HTML
(the HTML self-contained, its text escaped), a run driven over the socket and measured
from each key result's own evidence, and bad input refused with exit 2."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.client import Client
from codetether.daemon.paths import get_paths

CLI = str(Path(sys.executable).parent / "codetether")


def _client(home: Any) -> Client:
    return Client(get_paths({"CODETETHER_HOME": str(home.root)}), autostart=False)


def test_create_from_flags_then_every_view(home: Any) -> None:
    home.script()
    (home.workspace / "docs").mkdir()
    (home.workspace / "docs" / "a.md").write_text("# a\n")
    created = home.json("okr", "create", "--title", "Docs <script>alert(1)</script>", "--description", "why",
                        "--owner", "ana", "--tag", "docs", "--target-date", "2027-03-01",
                        "--kr", "guides:4:files:count:file=docs/*.md",
                        "--kr", "builds: clean:1::binary:command=test -d docs",
                        "--kr", "liked::::question=Do readers like it?")
    okr_id = created["id"]
    assert okr_id.startswith("okr_") and [k["title"] for k in created["key_results"]] == [
        "guides", "builds: clean", "liked"]
    text = home.cli("okr", "list", check=True).stdout
    assert okr_id in text and "3 KRs" in text and "draft" in text
    assert [o["id"] for o in home.json("okr", "list", "--tag", "docs")] == [okr_id]
    assert home.json("okr", "list", "--owner", "bo") == []

    # a run driven over the socket, as /go will: approve, run, measure, complete
    with _client(home) as client:
        run = client.call("okr/run_create", {"okr_id": okr_id, "workspace": str(home.workspace)})
        for to in ("pending_approval", "approved", "running"):
            client.call("okr/transition", {"run_id": run["id"], "to": to})
        measured = client.call("okr/measure", {"run_id": run["id"]})
        client.call("okr/transition", {"run_id": run["id"], "to": "completed"})
    krs = {k["title"]: k["id"] for k in created["key_results"]}
    assert measured["kr_progress"] == {krs["guides"]: 0.25, krs["builds: clean"]: 1.0, krs["liked"]: 0.0}

    status = home.cli("okr", "status", okr_id, check=True).stdout
    assert "guides  1/4 files (count)  progress 25%" in status and "needs answer: Do readers like it?" in status
    assert home.json("okr", "status", okr_id)["runs"][0]["status"] == "completed"
    run_text = home.cli("okr", "status", run["id"], check=True).stdout
    assert f"run {run['id']} of {okr_id}: completed" in run_text and "approve by uid:" in run_text
    runs = home.cli("okr", "runs", okr_id, check=True).stdout
    assert run["id"] in runs and "completed" in runs and "42%" in runs
    assert [r["id"] for r in home.json("okr", "runs")] == [run["id"]]
    assert home.json("okr", "runs", "--status", "running") == []
    stats = home.cli("okr", "stats", check=True).stdout
    assert "OKRs: 1 (1 draft); key results: 3" in stats and "runs: 1 (1 completed)" in stats
    assert home.json("okr", "stats")["mean_progress"] == pytest.approx(0.4167, abs=1e-3)

    exported = json.loads(home.cli("okr", "export", okr_id, check=True).stdout)
    assert exported["okr"]["id"] == okr_id and exported["runs"][0]["id"] == run["id"]
    report = home.cli("okr", "report", check=True).stdout
    assert okr_id in report and "Docs <script>" in report  # plain text is plain
    as_json = json.loads(home.cli("okr", "report", okr_id, "--format", "json", check=True).stdout)
    assert as_json[0]["okr"]["title"].startswith("Docs <script>")
    page = home.workspace / "report.html"
    proc = home.cli("okr", "report", okr_id, "--format", "html", "--out", str(page), check=True)
    assert proc.stdout == "" and f"wrote {page}" in proc.stderr
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert "<script" not in html and "Docs &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "http://" not in html and "https://" not in html and "<link" not in html and " src=" not in html


def test_create_from_a_file_and_bad_input(home: Any) -> None:
    home.script()
    spec = {"title": "Fast API", "tags": ["perf"], "key_results": [
        {"title": "p50", "metric_type": "latency", "target_value": 200, "unit": "ms",
         "evidence": {"kind": "url", "url": "http://127.0.0.1:9/health", "timeout": 2}},
        {"title": "suite", "metric_type": "quality",
         "evidence": {"kind": "tests", "command": "pytest -q tests"}}]}
    (home.workspace / "okr.json").write_text(json.dumps(spec))
    out = home.cli("okr", "create", "--file", "okr.json", check=True).stdout
    assert out.startswith("created okr_") and "(2 key results)" in out
    okr_id = out.split()[1].rstrip(":")
    assert home.json("okr", "status", okr_id)["okr"]["key_results"][0]["evidence"]["kind"] == "url"

    bad: list[tuple[list[str], str]] = [
        (["--title", "x", "--kr", "no colons"], "expected"),
        (["--title", "x", "--kr", "t:lots::count:file=x"], "not a number"),
        (["--title", "x", "--kr", "t:1::count:file=../../etc"], "inside the workspace"),
        (["--title", "x", "--target-date", "someday"], "YYYY-MM-DD"),
        (["--title", " "], "needs a title"),
        (["--file", "missing.json"], "cannot read missing.json"),
        (["--file", "okr.json", "--title", "x"], "not both"),
        ([], "give --title"),  # no terminal on stdin here, and no flags
    ]
    (home.workspace / "broken.json").write_text("{not json")
    bad.append((["--file", "broken.json"], "not JSON"))
    for args, message in bad:
        proc = home.cli("okr", "create", *args)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    proc = home.cli("okr", "status", "okr_missing")
    assert proc.returncode == 4 and "no OKR okr_missing" in proc.stderr
    proc = home.cli("okr", "report", "--format", "pdf")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    assert len(home.json("okr", "list")) == 1


def test_create_asks_on_a_terminal(home: Any) -> None:
    home.script()
    master, slave = pty.openpty()
    proc = subprocess.Popen([CLI, "okr", "create", "--json"], stdin=slave, stdout=slave, stderr=slave,
                            env=home.env, cwd=home.workspace, start_new_session=True)
    os.close(slave)
    output = seen = ""

    def expect(text: str) -> None:
        nonlocal output, seen
        deadline = time.monotonic() + 60
        while text not in output:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} not printed; got:\n{seen}"
            if select.select([master], [], [], left)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the other side closed
                    chunk = b""
                assert chunk, f"exited before printing {text!r}:\n{seen}"
                output += chunk.decode(errors="replace")
                seen += chunk.decode(errors="replace")
        output = output[output.index(text) + len(text):]

    try:
        for prompt, reply in (("Objective title:", "Ship the CLI"), ("Description (optional):", "soon"),
                              ("Key result 1 title:", "help works"), ("metric (", "binary"), ("target [", ""),
                              ("unit (", ""), ("evidence (", "command"), ("command command:", "true"),
                              ("Key result 2 title:", "readme"), ("metric (", "count"), ("target [", "many"),
                              ("unit (", ""), ("evidence (", "file"), ("file path:", "README*"),
                              ("not a number; again:", None), ("metric (", "count"), ("target [", "1"),
                              ("unit (", ""), ("evidence (", "file"), ("file path:", "README*"),
                              ("Key result 3 title:", "")):
            expect(prompt)
            if reply is not None:
                os.write(master, reply.encode() + b"\n")
        expect('"title": "Ship the CLI"')
        assert proc.wait(timeout=60) == 0, seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    created = home.json("okr", "list")[0]
    assert created["title"] == "Ship the CLI" and created["description"] == "soon"
    assert [(k["title"], k["metric_type"], k["evidence"]) for k in created["key_results"]] == [
        ("help works", "binary", {"kind": "command", "command": "true", "value_regex": None, "timeout": 120.0}),
        ("readme", "count", {"kind": "file", "path": "README*"})]
