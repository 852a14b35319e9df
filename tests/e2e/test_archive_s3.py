"""S3Archiver against a real S3-compatible server (moto) on loopback, port 0."""

from __future__ import annotations

import hashlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("boto3", reason="boto3 is the optional [archive] extra: pip install 'codetether[archive]'")
moto_server = pytest.importorskip("moto.server", reason="moto[server] comes with the [test] extra")

from codetether.daemon.core.records.eventstream import (  # noqa: E402
    ArchiveError,
    ArchiveNotFound,
    EventStream,
    EventStreamStore,
    S3Archiver,
    reconstruct,
)

BUCKET = "codetether-test"
CREDS = {"access_key_id": "test", "secret_access_key": "test", "region": "us-east-1"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()  # returns once the socket is bound and listening
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        assert server._server is not None
        server._server.server_close()  # stop() leaves the listening socket open
        werkzeug.setLevel(level)


@pytest.fixture
def archiver(endpoint: str) -> Iterator[S3Archiver]:
    with S3Archiver(BUCKET, endpoint_url=endpoint, **CREDS) as a:
        a._client.create_bucket(Bucket=BUCKET)
        yield a
        for sid in a.list():
            a.delete(sid)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[EventStreamStore]:
    with EventStreamStore(tmp_path / "live") as store:
        for sid, turns in (("sess-a", 3), ("sess-b", 1)):
            for t in range(turns):
                store.append(sid, "user", {"text": f"prompt {t}"}, okr_id="okr-1")
                store.append(sid, "text", {"text": f"answer {t} " + "\u2603" * t})
                store.append(sid, "tool_call_start", {"call_id": f"c{t}", "name": "edit", "arguments": "{}"})
                store.append(
                    sid,
                    "tool_call_end",
                    {
                        "call_id": f"c{t}",
                        "name": "edit",
                        "output": "ok",
                        "metadata": {
                            "changes": [
                                {
                                    "path": f"f{t}.py",
                                    "kind": "modify",
                                    "diff": "",
                                    "additions": 1,
                                    "deletions": 0,
                                }
                            ]
                        },
                    },
                )
                store.append(sid, "done", {"stop_reason": "end_turn", "steps": 1})
            store.release(sid)  # archive closed streams only
        yield store


def _bytes(folder: Path) -> dict[str, bytes]:
    """The stream's files that exist (a small stream's index lives in memory, not on disk)."""
    return {name: (folder / name).read_bytes() for name in ("events.jsonl", "events.idx")
            if (folder / name).exists()}


def _offsets(log: bytes) -> list[int]:
    """Where each line of an events log starts: what its index holds."""
    starts, at = [], 0
    for line in log.splitlines(keepends=True):
        starts.append(at)
        at += len(line)
    return starts


def test_upload_list_restore_round_trips_bytes(archiver: S3Archiver, live: EventStreamStore, tmp_path: Path):
    result = archiver.archive("sess-a", live.directory)
    # A small stream's index is derived data kept in memory: only the log goes up.
    assert [f.key for f in result.files] == ["codetether/events/sess-a/events.jsonl"]
    archiver.archive("sess-b", live.directory)
    assert archiver.list() == ["sess-a", "sess-b"]

    original = _bytes(live.directory / "sess-a")
    head = archiver._client.head_object(Bucket=BUCKET, Key=result.files[0].key)
    assert head["Metadata"]["sha256"] == hashlib.sha256(original["events.jsonl"]).hexdigest()
    assert head["Metadata"]["session-id"] == "sess-a"
    assert result.files[0].size == len(original["events.jsonl"])

    folder = archiver.restore("sess-a", tmp_path / "restored")
    assert folder == tmp_path / "restored" / "sess-a"
    assert _bytes(folder) == original
    assert sorted(p.name for p in folder.iterdir()) == ["events.jsonl"]  # no temp files left
    with EventStream(tmp_path / "restored", "sess-a") as back, live.open("sess-a") as src:
        assert len(back) == len(src) == 15
        assert back.read(7) == src.read(7)
        assert [c["path"] for c in reconstruct(back).file_changes] == ["f0.py", "f1.py", "f2.py"]


def test_upload_to_a_missing_bucket_is_a_clear_error(endpoint: str, live: EventStreamStore):
    with S3Archiver("no-such-bucket", endpoint_url=endpoint, **CREDS) as bad:
        with pytest.raises(ArchiveNotFound) as info:
            bad.archive("sess-a", live.directory)
    assert str(info.value) == (
        "archive upload s3://no-such-bucket/codetether/events/sess-a/events.jsonl failed: "
        "NoSuchBucket: The specified bucket does not exist"
    )
    assert info.value.data == {"code": "NoSuchBucket"}
    assert info.value.codes.jsonrpc == -31001


def test_unreachable_endpoint_is_an_archive_error(live: EventStreamStore):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with S3Archiver(BUCKET, endpoint_url=f"http://127.0.0.1:{port}", **CREDS) as down:
        with pytest.raises(ArchiveError, match=rf"archive upload s3://{BUCKET}/.*failed: Could not connect"):
            down.archive("sess-a", live.directory)


def test_restore_of_an_unknown_session(archiver: S3Archiver, tmp_path: Path):
    with pytest.raises(ArchiveNotFound, match="NoSuchKey"):
        archiver.restore("never-archived", tmp_path)
    assert not (tmp_path / "never-archived" / "events.jsonl").exists()


def test_archive_of_a_session_with_no_local_stream(archiver: S3Archiver, tmp_path: Path):
    with pytest.raises(ArchiveNotFound, match="no event stream for session ghost"):
        archiver.archive("ghost", tmp_path)


def test_restore_does_not_overwrite_unless_asked(archiver: S3Archiver, live: EventStreamStore):
    archiver.archive("sess-b", live.directory)
    with pytest.raises(ArchiveError, match="exists; pass overwrite=True"):
        archiver.restore("sess-b", live.directory)
    assert archiver.restore("sess-b", live.directory, overwrite=True) == live.directory / "sess-b"


def test_damaged_object_is_rejected_and_the_local_copy_kept(
    archiver: S3Archiver, live: EventStreamStore, tmp_path: Path
):
    archiver.archive("sess-b", live.directory)
    key = archiver.key("sess-b")
    good = (live.directory / "sess-b" / "events.jsonl").read_bytes()
    sha = hashlib.sha256(good).hexdigest()
    archiver._client.put_object(Bucket=BUCKET, Key=key, Body=good[:-5] + b"XXXX\n", Metadata={"sha256": sha})
    dest = tmp_path / "dest"
    (dest / "sess-b").mkdir(parents=True)
    (dest / "sess-b" / "events.jsonl").write_bytes(b"local\n")
    with pytest.raises(ArchiveError, match="does not match its sha256"):
        archiver.restore("sess-b", dest, overwrite=True)
    assert (dest / "sess-b" / "events.jsonl").read_bytes() == b"local\n"
    assert sorted(p.name for p in (dest / "sess-b").iterdir()) == ["events.jsonl"]


def test_restore_without_an_index_rebuilds_it_on_open(
    archiver: S3Archiver, live: EventStreamStore, tmp_path: Path
):
    archiver.archive("sess-a", live.directory)  # the log only (see above)
    folder = archiver.restore("sess-a", tmp_path)
    assert not (folder / "events.idx").exists()
    with EventStream(tmp_path, "sess-a") as s:  # a plain stream keeps its index in a file
        assert len(s) == 15 and s.read(14).kind == "done"
    index = (folder / "events.idx").read_bytes()
    log = (folder / "events.jsonl").read_bytes()
    assert [int.from_bytes(index[i:i + 8], "little") for i in range(0, len(index), 8)] == _offsets(log)


async def test_async_archive_and_restore_run_off_the_loop(
    archiver: S3Archiver, live: EventStreamStore, tmp_path: Path
):
    result = await archiver.archive_async("sess-a", live.directory)
    assert result.session_id == "sess-a"
    folder = await archiver.restore_async("sess-a", tmp_path)
    assert _bytes(folder) == _bytes(live.directory / "sess-a")


def test_the_cli_archives_a_session_stream_through_the_daemon(home, endpoint: str) -> None:
    import json as _json

    import boto3

    home.script({"text": "archived answer"})
    home.cli("run", "hello", check=True)
    sid = home.json("sessions", "list")[0]["id"]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **{
        "aws_access_key_id": CREDS["access_key_id"], "aws_secret_access_key": CREDS["secret_access_key"]})
    s3.create_bucket(Bucket="ct-daemon-archive")
    home.write_config(home.config_file.read_text() + (
        f'\n[archive]\nenabled = true\nbucket = "ct-daemon-archive"\nendpoint_url = "{endpoint}"\n'
        'region = "us-east-1"\n'))
    home.extra_env.update(AWS_ACCESS_KEY_ID=CREDS["access_key_id"],
                          AWS_SECRET_ACCESS_KEY=CREDS["secret_access_key"])
    home.json("daemon", "stop")  # pick up the env and config at start
    done = home.json("events", "archive", sid)
    keys = {f["key"] for f in done["files"]}
    assert any(k.endswith("events.jsonl") for k in keys)
    local = (home.root / "data" / "events" / sid / "events.jsonl").read_bytes()
    remote = s3.get_object(Bucket="ct-daemon-archive", Key=next(k for k in keys if k.endswith(".jsonl")))
    assert remote["Body"].read() == local
    assert _json.loads(local.splitlines()[0])["kind"] == "user"
    s3.close()

    proc = home.cli("events", "archive", "no-such-session")
    assert proc.returncode == 4
