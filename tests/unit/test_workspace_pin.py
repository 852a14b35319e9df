"""A session's workspace is where it first ran: a run refuses to start when the path now
leads elsewhere (a project replaced by a link between two runs must not move where the
agent may write), and a workspace that is gone is a clear error, not a traceback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.api import CallContext, build_api
from codetether.daemon.app import App
from codetether.daemon.errors import Conflict, NotFound

WRITE = {"tool": "write_file", "arguments": {"path": "x.txt", "content": "written"}}


def _ctx() -> CallContext:
    return CallContext(transport="inproc", peer={"uid": os.getuid()}, principal=f"uid:{os.getuid()}")


@pytest.fixture
async def app(tmp_path: Path, scripted_app: Any) -> AsyncIterator[App]:
    the_app = scripted_app(tmp_path / "home", [{"text": "first"}, WRITE, {"text": "wrote"}, WRITE,
                                               {"text": "wrote again"}],
                           config='[permissions]\nmode = "auto"\n')
    try:
        yield the_app
    finally:
        await the_app.aclose()


async def test_a_workspace_replaced_by_a_link_is_refused(app: App, tmp_path: Path) -> None:
    table = build_api(app)
    proj, elsewhere = tmp_path / "proj", tmp_path / "elsewhere"
    proj.mkdir()
    elsewhere.mkdir()
    info = await table.call("session/create", {"workspace": str(proj)}, _ctx())
    assert (await table.call("session/prompt", {"session_id": info.id, "text": "hi"}, _ctx())).stop_reason == "end_turn"
    assert app.runtime(info.id).meta.state["workspace_root"] == str(proj.resolve())
    # between two runs the project becomes a link to another directory
    proj.rename(tmp_path / "proj.real")
    proj.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(Conflict, match="now leads to") as refused:
        await table.call("session/prompt", {"session_id": info.id, "text": "write"}, _ctx())
    assert refused.value.data == {"workspace": str(proj), "was": str(proj.resolve().parent / "proj"),
                                  "now": str(elsewhere.resolve())}
    assert not (elsewhere / "x.txt").exists() and not (tmp_path / "proj.real" / "x.txt").exists()
    assert not app.runtime(info.id).busy  # the session is free for a run once it is put back
    proj.unlink()
    (tmp_path / "proj.real").rename(proj)
    await table.call("session/prompt", {"session_id": info.id, "text": "write"}, _ctx())
    assert (proj / "x.txt").read_text() == "written"


async def test_a_workspace_that_was_a_link_from_the_start_keeps_working(app: App, tmp_path: Path) -> None:
    table = build_api(app)
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    info = await table.call("session/create", {"workspace": str(link)}, _ctx())
    await table.call("session/prompt", {"session_id": info.id, "text": "hi"}, _ctx())
    await table.call("session/prompt", {"session_id": info.id, "text": "write"}, _ctx())
    assert (real / "x.txt").read_text() == "written"


async def test_a_workspace_that_is_gone_is_a_clear_error(app: App, tmp_path: Path) -> None:
    table = build_api(app)
    proj = tmp_path / "proj"
    proj.mkdir()
    info = await table.call("session/create", {"workspace": str(proj)}, _ctx())
    proj.rmdir()
    with pytest.raises(NotFound, match="workspace of session .* is gone"):
        await table.call("session/prompt", {"session_id": info.id, "text": "hi"}, _ctx())
    assert not app.runtime(info.id).busy
