"""Assemble the daemon; ordered start-up and shutdown.

Start-up: single-instance lock → logging → config → app → listener → config
watcher → ready. Shutdown (SIGTERM, SIGINT or ``daemon/shutdown``) unwinds the
same stack in reverse: stop the config watcher → stop accepting, cancel runs
(their pending tool calls and approvals stay on disk for a resume) and drain
in-flight requests → close the app. An AsyncExitStack runs every step even
when one fails, and also when start-up itself fails half-way.

SIGTERM and SIGINT are ours from the moment the lock is held until the pid file
is gone: the first one asks for the ordered shutdown, any later one is logged and
absorbed (R4). A second signal must not kill the daemon half-way through writing
its summaries, or leave a pid file behind; SIGKILL remains for a daemon that hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import logging
import logging.handlers
import os
import signal
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .errors import ConfigError
from .paths import Paths, ensure_private_dir, get_paths

if TYPE_CHECKING:  # imported when serving: `python -m codetether.daemon --help` stays light
    from .app import App
    from .transports import UnixListener

__all__ = ["AlreadyRunning", "main", "serve"]

log = logging.getLogger("codetether.daemon")

DRAIN_SECONDS = 5.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_M_MMAP_THRESHOLD = -3  # mallopt parameter, from glibc's malloc.h


class AlreadyRunning(Exception):
    pass


def _acquire_lock(paths: Paths) -> IO[str]:
    ensure_private_dir(paths.runtime_dir)  # S8: never a dir another user made for us
    fh = open(paths.lock_file, "a+")  # noqa: SIM115 - held for the daemon's life
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise AlreadyRunning(f"another daemon holds {paths.lock_file}") from None
    paths.pid_file.write_text(f"{os.getpid()}\n")
    return fh


class _PrivateLogHandler(logging.handlers.RotatingFileHandler):
    """The daemon log, and each file rotation starts, 0600 like the rest of the data dir."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)  # os.fdopen, typed


def _setup_logging(paths: Paths, level: str) -> None:
    paths.log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = _PrivateLogHandler(paths.log_file, maxBytes=5 << 20, backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    from .core.secrets import RedactingFilter, register

    handler.addFilter(RedactingFilter())
    register(os.environ.get("VAULT_TOKEN"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # "N changes detected" per event


async def serve(paths: Paths, *, ready_fd: int | None = None) -> int:
    from .api import build_api
    from .app import App
    from .core.config import ConfigWatcher, LoadedConfig, load_config
    from .core.providers import ModelResolver
    from .core.secrets import SecretStore
    from .transports import UnixListener

    lock = _acquire_lock(paths)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            log.warning("%s received while shutting down: ignored, shutdown continues", sig.name)
        else:
            log.info("%s received: shutting down", sig.name)
            stop.set()

    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        # Transcripts hold file contents and commands: private to the user.
        paths.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(paths.data_dir, 0o700)
        config_error: ConfigError | None = None
        try:
            loaded = load_config(paths.config_file)
        except ConfigError as exc:
            # Fail closed (S2): serve, so every client can say what is wrong, but run nothing
            # until the file loads; running on defaults would drop the user's deny rules.
            config_error = exc
            loaded = load_config(Path(os.devnull))
        _setup_logging(paths, loaded.config.daemon.log_level)
        if config_error is not None:
            log.error("%s", config_error.message)
        for warning in loaded.warnings:
            log.warning("%s", warning)

        app = App(paths, loaded, ModelResolver(loaded.config, SecretStore(loaded.config.secrets)),
                  config_error=config_error)
        listener = UnixListener(paths.socket, build_api(app),
                                max_message_bytes=loaded.config.daemon.max_message_bytes)

        async def on_config(new: LoadedConfig) -> None:
            await app.apply_config(new)
            log.info("config reloaded")

        def on_config_error(exc: ConfigError) -> None:
            log.error("config reload refused; runs are refused until it loads: %s", exc.message)
            app.config_failed(exc)

        # Teardown runs in reverse order of set-up, whatever step failed: the watcher
        # stops before the app closes, the app closes after the listener drained.
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(app.aclose)
            await listener.start()
            stack.push_async_callback(_drain, app, listener)
            await stack.enter_async_context(ConfigWatcher(paths.config_file, on_config, on_config_error))
            log.info("daemon %s listening on %s", os.getpid(), paths.socket)
            _signal_ready(ready_fd)
            shutdown = asyncio.create_task(app.shutdown_requested.wait(), name="shutdown-request")
            stopper = asyncio.create_task(stop.wait(), name="stop-signal")
            try:
                await asyncio.wait([shutdown, stopper], return_when=asyncio.FIRST_COMPLETED)
            finally:
                shutdown.cancel()
                stopper.cancel()
                await asyncio.gather(shutdown, stopper, return_exceptions=True)
            stop.set()  # from here on a signal is absorbed, whoever asked first
            log.info("shutting down")
        log.info("stopped")
        return 0
    finally:
        with contextlib.suppress(OSError):
            paths.pid_file.unlink()
        lock.close()
        # Only now: until the pid file is gone, a signal must not end the process.
        for sig in _STOP_SIGNALS:
            loop.remove_signal_handler(sig)


async def _drain(app: App, listener: UnixListener) -> None:
    """Stop accepting, cancel runs (their open calls stay for a resume), drain requests."""
    await listener.stop_accepting()
    app.stop_runs()
    await listener.drain(DRAIN_SECONDS)


def _signal_ready(fd: int | None) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, b"ready\n")
        os.close(fd)


def _return_big_buffers_to_os() -> None:
    """Serve allocations of 128 KiB and more from their own mappings, on glibc.

    glibc raises its mmap threshold to the size of the largest block freed (up to
    32 MiB), so after one 8 MiB socket frame every later big buffer comes from the
    heap and stays in the daemon's RSS when freed (+8 MB for good, in bench/fuzz_rss).
    Setting the threshold explicitly turns that adjustment off.
    """
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return
    except (ValueError, OSError):  # not glibc: its allocator, its policy
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 128 * 1024)


def main() -> int:
    _return_big_buffers_to_os()
    paths = get_paths()
    fd_text = os.environ.pop("CODETETHER_READY_FD", "")
    ready_fd = int(fd_text) if fd_text.isdigit() else None
    try:
        return asyncio.run(serve(paths, ready_fd=ready_fd))
    except AlreadyRunning as exc:
        if ready_fd is not None:
            # Someone else won the race to start: they are the daemon, and ready.
            _signal_ready(ready_fd)
        print(f"codetether daemon: {exc}", flush=True)
        return 3
    except PermissionError as exc:  # an unsafe runtime dir (S8): say why, to whoever started us
        message = str(exc)
        if ready_fd is not None:
            with contextlib.suppress(OSError):
                os.write(ready_fd, f"error: {message}\n".encode())
        print(f"codetether daemon: {message}", flush=True)
        return 3
