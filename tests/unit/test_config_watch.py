"""config.toml reloaded live: each change reported, a bad edit reported and the previous
configuration kept, a read overtaken by a newer file dropped."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.core.config import Config, ConfigWatcher, LoadedConfig
from codetether.daemon.errors import ConfigError


def _write(path: Path, text: str) -> None:
    """Replace the file atomically, as editors do, so a reader never sees half of it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".edit-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)

# --- live reload ------------------------------------------------------------------------


class _Recorder:
    """Collects what the watcher reports; tests await the next report with a deadline."""

    def __init__(self) -> None:
        self.reports: asyncio.Queue[LoadedConfig | ConfigError] = asyncio.Queue()

    def on_change(self, loaded: LoadedConfig) -> None:
        self.reports.put_nowait(loaded)

    async def on_error(self, err: ConfigError) -> None:  # async callbacks work too
        self.reports.put_nowait(err)

    async def next(self) -> LoadedConfig | ConfigError:
        return await asyncio.wait_for(self.reports.get(), timeout=15)


async def test_watcher_sees_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "config.toml"  # neither file nor directory exists yet
    rec = _Recorder()
    async with ConfigWatcher(path, rec.on_change, rec.on_error, step_ms=20) as watcher:
        assert watcher.current.config == Config()
        tasks = [t for t in asyncio.all_tasks() if t.get_name() == f"config-watcher:{path}"]
        assert len(tasks) == 1
        _write(path, "[session]\nmax_steps = 7\n")
        got = await rec.next()
        assert isinstance(got, LoadedConfig)
        assert got.config.session.max_steps == 7
        assert watcher.current is got
    assert watcher.state.value == "closed"
    assert tasks[0].done()
    with pytest.raises(RuntimeError, match="closed"):
        await watcher.__aenter__()


async def test_watcher_survives_a_bad_edit_then_a_good_one(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[session]\nmax_steps = 5\n")
    rec = _Recorder()
    async with ConfigWatcher(path, rec.on_change, rec.on_error, step_ms=20) as watcher:
        assert watcher.current.config.session.max_steps == 5
        _write(path, '[session]\nmax_steps = "five"\n')
        bad = await rec.next()
        assert isinstance(bad, ConfigError)
        assert "config.toml:2: session.max_steps" in str(bad)
        assert watcher.current.config.session.max_steps == 5  # previous config kept

        _write(path, "[session]\nmax_steps = 6\nmax_stepz = 1\n")
        good = await rec.next()
        assert isinstance(good, LoadedConfig)
        assert good.config.session.max_steps == 6
        assert good.warnings == [f"{path}:3: unknown key 'session.max_stepz'"]
        assert watcher.current is good

        path.unlink()  # back to defaults
        gone = await rec.next()
        assert isinstance(gone, LoadedConfig) and gone.config == Config()


async def test_a_read_overtaken_by_a_newer_file_is_not_applied(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A reload that read the file just before `config --set` replaced (and applied) a newer
    one must not apply what it read: that would undo the set (a deny rule just added) until
    the next event. Found in CI: a second `config --set` saw the first one undone."""
    import threading

    from codetether.daemon.core.config import _watch

    path = tmp_path / "config.toml"
    path.write_text("[session]\nmax_steps = 5\n")
    rec = _Recorder()
    read_done, go_on = threading.Event(), threading.Event()
    real = _watch._read_with_identity

    def slow_read(p: Path) -> Any:
        got = real(p)
        read_done.set()
        go_on.wait(10)  # the reader is descheduled here, holding the older bytes
        return got

    async with ConfigWatcher(path, rec.on_change, rec.on_error, step_ms=20) as watcher:
        monkeypatch.setattr(_watch, "_read_with_identity", slow_read)
        _write(path, "[session]\nmax_steps = 6\n")  # the watcher reads this one...
        assert await asyncio.to_thread(read_done.wait, 10)
        monkeypatch.setattr(_watch, "_read_with_identity", real)
        _write(path, '[session]\nmax_steps = 7\n[permissions.rules.bash]\n"rm *" = "deny"\n')  # ...a set
        go_on.set()
        got = await rec.next()
        assert isinstance(got, LoadedConfig)
        # what the watcher reports is the newest file, never the one read before it
        assert got.config.session.max_steps == 7
        assert got.config.permissions.rules["bash"] == {"rm *": "deny"}
        assert watcher.current is got


async def test_watcher_ignores_other_files_and_survives_callback_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.toml"
    seen: asyncio.Queue[LoadedConfig] = asyncio.Queue()
    calls = 0

    def flaky(loaded: LoadedConfig) -> None:
        nonlocal calls
        calls += 1
        seen.put_nowait(loaded)
        if calls == 1:
            raise RuntimeError("callback bug")

    async with ConfigWatcher(path, flaky, lambda err: None, step_ms=20):
        (tmp_path / "other.toml").write_text("[session]\nmax_steps = 99\n")
        _write(path, "[session]\nmax_steps = 2\n")
        first = await asyncio.wait_for(seen.get(), timeout=15)
        assert first.config.session.max_steps == 2  # other.toml never reported
        _write(path, "[session]\nmax_steps = 3\n")
        second = await asyncio.wait_for(seen.get(), timeout=15)
        assert second.config.session.max_steps == 3
    assert "callback" in caplog.text and "callback bug" in caplog.text


async def test_watcher_reports_a_bad_initial_file_then_picks_up_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[session\n")
    rec = _Recorder()
    async with ConfigWatcher(path, rec.on_change, rec.on_error, step_ms=20) as watcher:
        bad = await rec.next()
        assert isinstance(bad, ConfigError) and "config.toml:1: invalid TOML" in str(bad)
        assert watcher.current.config == Config()  # defaults stand in
        _write(path, "[session]\nmax_steps = 4\n")
        good = await rec.next()
        assert isinstance(good, LoadedConfig) and good.config.session.max_steps == 4


async def test_watcher_keeps_the_given_initial_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[session]\nmax_steps = 4\n")
    initial = LoadedConfig(Config(), ["from the caller"])
    async with ConfigWatcher(path, lambda c: None, lambda e: None, initial=initial) as watcher:
        assert watcher.current is initial


async def test_watcher_cannot_watch_an_unusable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    watcher = ConfigWatcher(blocker / "config.toml", lambda c: None, lambda e: None)
    with pytest.raises(OSError):
        async with watcher:
            pass  # pragma: no cover
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("config-watcher:")]


async def test_watcher_setup_failure_is_raised_from_enter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pins the readiness assumption: awatch sets up its OS watch in its first step."""
    import watchfiles.main

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("inotify watch limit reached")

    monkeypatch.setattr(watchfiles.main, "RustNotify", refuse)
    watcher = ConfigWatcher(tmp_path / "config.toml", lambda c: None, lambda e: None)
    with pytest.raises(OSError, match="inotify watch limit"):
        async with watcher:
            pass  # pragma: no cover
    assert watcher.state.value == "closed"
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("config-watcher:")]


async def test_watcher_exit_on_cancellation_reraises(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    entered = asyncio.Event()

    async def hold() -> None:
        async with ConfigWatcher(path, lambda c: None, lambda e: None, step_ms=20):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(hold(), name="test:hold")
    await asyncio.wait_for(entered.wait(), timeout=15)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("config-watcher:")]
