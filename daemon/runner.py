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
import json
import logging
import logging.handlers
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from .errors import ConfigError, Unavailable
from .paths import Paths, ensure_private_dir, get_paths

if TYPE_CHECKING:  # imported when serving: `python -m codetether.daemon --help` stays light
    from .api import A2AAPI, API
    from .app import App
    from .core.config import A2ASection, LoadedConfig
    from .core.peers import PeerPoller
    from .transports.grpc import GrpcListener

__all__ = ["AlreadyRunning", "ServeOptions", "SpawnOptions", "main", "serve"]

log = logging.getLogger("codetether.daemon")

DRAIN_SECONDS = 5.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_M_MMAP_THRESHOLD = -3  # mallopt parameter, from glibc's malloc.h


class AlreadyRunning(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """``codetether serve``: the A2A listeners to open whatever ``[a2a] enabled`` says
    (``host:port``; port 0 = any free port; None = none), and whether to print the bound
    addresses as one JSON line on stdout once every listener is ready."""

    http: str | None = None
    grpc: str | None = None
    print_json: bool = False


@dataclass(frozen=True, slots=True)
class SpawnOptions(ServeOptions):
    """``codetether spawn``: serve with the card's ``name`` and poll ``peers`` (URLs)
    every ``poll_interval`` seconds, introducing ourselves once to each new one unless
    not ``auto_introduce``."""

    name: str = "codetether"
    peers: tuple[str, ...] = ()
    poll_interval: float = 15.0
    auto_introduce: bool = True


class Listener(Protocol):
    """What the ordered shutdown needs of a listener."""

    async def stop_accepting(self) -> None: ...
    async def drain(self, timeout: float) -> None: ...


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


async def serve(paths: Paths, *, ready_fd: int | None = None, options: ServeOptions | None = None) -> int:
    from .api import build_api
    from .app import App
    from .core.config import ConfigWatcher, load_config
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
        loaded = _spawn_named(loaded, options)
        _setup_logging(paths, loaded.config.daemon.log_level)
        if config_error is not None:
            log.error("%s", config_error.message)
        for warning in loaded.warnings:
            log.warning("%s", warning)

        app = App(paths, loaded, ModelResolver(loaded.config, SecretStore(loaded.config.secrets)),
                  config_error=config_error)
        socket_api = build_api(app)
        listener = UnixListener(paths.socket, socket_api,
                                max_message_bytes=loaded.config.daemon.max_message_bytes)
        listeners: list[Listener] = [listener]

        async def on_config(new: LoadedConfig) -> None:
            await app.apply_config(_spawn_named(new, options))
            log.info("config reloaded")

        def on_config_error(exc: ConfigError) -> None:
            log.error("config reload refused; runs are refused until it loads: %s", exc.message)
            app.config_failed(exc)

        # Teardown runs in reverse order of set-up, whatever step failed: the watcher
        # stops before the app closes, the app closes after the listener drained.
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(app.aclose)
            await app.start()
            a2a: list[A2AAPI] = []  # its task manager closes after the listeners drained
            stack.push_async_callback(_close_a2a, a2a)
            stack.push_async_callback(_drain, app, listeners)
            await listener.start()
            http, grpc = _a2a_addresses(loaded.config.a2a, options)
            if http or grpc:
                a2a.append(await _open_a2a(app, socket_api, http, grpc, listeners))
            if isinstance(options, SpawnOptions):  # stops first: before the listeners drain
                await stack.enter_async_context(_peer_poller(app, options))
            await stack.enter_async_context(ConfigWatcher(paths.config_file, on_config, on_config_error))
            await _reattach(app)
            log.info("daemon %s listening on %s%s", os.getpid(), paths.socket,
                     "".join(f", {v}" for v in app.endpoints.values()))
            if options is not None and options.print_json:
                print(json.dumps({"socket": str(paths.socket), "pid": os.getpid(),
                                  "http_url": app.endpoints.get("http_url"),
                                  "grpc_address": app.endpoints.get("grpc_address")}), flush=True)
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


async def _reattach(app: App) -> None:
    """Give every /go gate still pending its flow back (the gate survives a restart), and
    resume the relays a restart cut short when ``[relay] auto_resume`` says so."""
    from .api import SessionsAPI
    from .api.go import reattach_gates
    from .api.relay import resume_unfinished

    count = await reattach_gates(app, SessionsAPI(app))
    if count:
        log.info("%d /go gate(s) waiting for a decision again", count)
    resumed = resume_unfinished(app)
    if resumed:
        log.info("relays resumed after the restart: %s", ", ".join(resumed))


async def _drain(app: App, listeners: list[Listener]) -> None:
    """Stop accepting on every listener, cancel runs (their open calls stay for a resume),
    then drain every listener's requests in flight together."""
    for listener in listeners:
        await listener.stop_accepting()
    app.stop_runs()
    await asyncio.gather(*(listener.drain(DRAIN_SECONDS) for listener in listeners))


def _a2a_addresses(settings: A2ASection, options: ServeOptions | None) -> tuple[str | None, str | None]:
    """(http, grpc) ``host:port`` to open: ``serve``'s flags, else ``[a2a]`` when enabled."""
    if options is not None and (options.http or options.grpc):
        return options.http, options.grpc
    if not settings.enabled:
        return None, None
    return settings.listen or None, settings.grpc_listen or None


def _split(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"a listen address is host:port, not {address!r}")
    return host.strip("[]"), int(port)


async def _open_a2a(app: App, socket_api: API, http: str | None, grpc: str | None,
                    listeners: list[Listener]) -> A2AAPI:
    """Open the A2A listeners over one A2A table (one task manager); each joins
    ``listeners`` as soon as it is bound, so a later failure still drains it."""
    from .api import A2AAPI, build_a2a_api
    from .core.secrets import auth_token

    token = auth_token(app.paths.data_dir)  # fail closed: no token, no listener
    a2a = A2AAPI(app)
    table = build_a2a_api(app, a2a)
    limit = app.config.a2a.max_body_bytes
    if http:
        from .transports.http import HttpListener

        host, port = _split(http)
        web = HttpListener(table, host=host, port=port, token=token, max_body_bytes=limit,
                           rest_api=socket_api)
        try:
            app.endpoints["http_url"] = await web.start()
        except OSError as exc:  # in use, or not an address of this host
            raise ConfigError(f"the A2A HTTP listener cannot listen on {http}: {exc.strerror or exc}") from exc
        listeners.append(web)
    if grpc:
        try:
            from .transports.grpc import GrpcListener
        except ImportError as exc:
            raise ConfigError("the gRPC listener needs the [grpc] extra: "
                              "pip install 'codetether[grpc]'") from exc
        host, port = _split(grpc)
        rpc = GrpcListener(table, host, port, token=token, max_message_bytes=limit)
        try:
            await rpc.start()
        except Unavailable as exc:
            raise ConfigError(f"the A2A gRPC listener {exc.message}") from exc
        listeners.append(_GrpcDrain(rpc))
        app.endpoints["grpc_address"] = rpc.address
    return a2a


async def _close_a2a(a2a: list[A2AAPI]) -> None:
    for api in a2a:
        await api.aclose()


class _GrpcDrain:
    """The gRPC listener in the shutdown's two steps: it stops accepting and drains at once."""

    def __init__(self, listener: GrpcListener) -> None:
        self.listener = listener

    async def stop_accepting(self) -> None:
        return None  # grpc stops both together; drain does it

    async def drain(self, timeout: float) -> None:
        await self.listener.stop(timeout)


def _signal_ready(fd: int | None) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, b"ready\n")
        os.close(fd)


def _serve_options(argv: list[str]) -> ServeOptions | None:
    """The ``serve`` flags (the CLI's ``codetether serve`` runs us with them)."""
    if not argv:
        return None
    import argparse

    parser = argparse.ArgumentParser(prog="codetether serve", description=(
        "Run the daemon in the foreground with the Unix socket and the A2A listeners."))
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--hostname", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4096, help="HTTP port: JSON-RPC, SSE, HTTP+JSON (0: any)")
    parser.add_argument("--grpc-port", type=int, default=_env_port("CODETETHER_GRPC_PORT", 50051),
                        help="gRPC port (0: any; -1: no gRPC; default $CODETETHER_GRPC_PORT or 50051)")
    parser.add_argument("--json", action="store_true", help="print the bound addresses as one JSON line")
    parser.add_argument("--conformance", action="store_true",
                        help="tasks follow the A2A TCK's messageId scenarios instead of running the agent")
    args = parser.parse_args(argv)
    if args.conformance:  # read by the tasks room when the A2A table is built
        os.environ["CODETETHER_A2A_CONFORMANCE"] = "1"
    for name, port in (("--port", args.port), ("--grpc-port", args.grpc_port)):
        if not -1 <= port <= 65535:
            parser.error(f"{name} must be a port number (0 for any free port)")
    host = f"[{args.hostname}]" if ":" in args.hostname else args.hostname
    return ServeOptions(http=f"{host}:{args.port}" if args.port >= 0 else None,
                        grpc=f"{host}:{args.grpc_port}" if args.grpc_port >= 0 else None,
                        print_json=args.json)


def _spawn_named(loaded: LoadedConfig, options: ServeOptions | None) -> LoadedConfig:
    """Spawn mode's name on the card, whatever ``[a2a] name`` says (also after a reload)."""
    if not isinstance(options, SpawnOptions):
        return loaded
    import msgspec

    from .core.config import LoadedConfig

    a2a = msgspec.structs.replace(loaded.config.a2a, name=options.name)
    return LoadedConfig(msgspec.structs.replace(loaded.config, a2a=a2a), loaded.warnings)


def _peer_poller(app: App, options: SpawnOptions) -> PeerPoller:
    """The poller over spawn's peers, writing the registry in the data dir; a peer's token
    is its ``[a2a.peers.<name>]`` token_env variable (matched by URL), else
    ``$CODETETHER_A2A_TOKEN``."""
    from .core.peers import PeerPoller, PeerRegistry, registry_path, resolve_peer

    def token_for(url: str) -> str | None:
        return resolve_peer(url, app.config.a2a.peers).token

    return PeerPoller(PeerRegistry(registry_path(app.paths.data_dir)), list(options.peers),
                      name=options.name, own_url=lambda: app.endpoints.get("http_url"),
                      token_for=token_for, interval=options.poll_interval,
                      auto_introduce=options.auto_introduce)


def _spawn_options(argv: list[str]) -> SpawnOptions:
    """The ``spawn`` flags: ``serve``'s, and the name, peers and poller's settings."""
    import argparse

    parser = argparse.ArgumentParser(prog="codetether spawn", description=(
        "Serve as a named agent that polls its peers' cards and introduces itself once to each."))
    parser.add_argument("command", choices=["spawn"])
    parser.add_argument("--name", required=True, help="the agent's name on its card")
    parser.add_argument("--peer", action="append", default=[], help="peer URLs (comma separated)")
    parser.add_argument("--poll-interval", type=float, default=15.0, help="seconds between polls (>= 5)")
    parser.add_argument("--no-auto-introduce", action="store_true", help="no introductions")
    args, rest = parser.parse_known_args(argv)
    if args.poll_interval < 5.0:
        parser.error("--poll-interval must be at least 5 seconds")
    served = _serve_options(["serve", *rest])
    assert served is not None
    peers = [*args.peer, os.environ.get("CODETETHER_A2A_PEERS", "")]
    urls = tuple(dict.fromkeys(u.strip() for text in peers for u in text.split(",") if u.strip()))
    return SpawnOptions(http=served.http, grpc=served.grpc, print_json=served.print_json,
                        name=args.name, peers=urls, poll_interval=args.poll_interval,
                        auto_introduce=not args.no_auto_introduce)


def _env_port(name: str, default: int) -> int:
    text = os.environ.get(name, "")
    return int(text) if text.strip().lstrip("-").isdigit() else default


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


def main(argv: list[str] | None = None) -> int:
    """``python -m codetether.daemon [serve [--hostname H] [--port P] [--grpc-port G] [--json]]``,
    or ``spawn --name N [--peer URL,...] [--poll-interval S] [--no-auto-introduce]`` and serve's flags."""
    args = sys.argv[1:] if argv is None else argv
    options = _spawn_options(args) if args[:1] == ["spawn"] else _serve_options(args)
    # Before anything starts grpc (the listeners, a peer called over gRPC): the daemon
    # forks only to exec tools, and grpc's fork handler can abort such a child (see
    # transports/grpc/__init__.py).
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    _return_big_buffers_to_os()
    paths = get_paths()
    fd_text = os.environ.pop("CODETETHER_READY_FD", "")
    ready_fd = int(fd_text) if fd_text.isdigit() else None
    try:
        return asyncio.run(serve(paths, ready_fd=ready_fd, options=options))
    except AlreadyRunning as exc:
        if ready_fd is not None:
            # Someone else won the race to start: they are the daemon, and ready.
            _signal_ready(ready_fd)
        print(f"codetether daemon: {exc}", flush=True)
        return 3
    except ConfigError as exc:  # e.g. a listen address in use, a token too short: fail closed
        if ready_fd is not None:
            with contextlib.suppress(OSError):
                os.write(ready_fd, f"error: {exc.message}\n".encode())
        print(f"codetether daemon: {exc.message}", file=sys.stderr, flush=True)
        return 5
    except PermissionError as exc:  # an unsafe runtime dir (S8): say why, to whoever started us
        message = str(exc)
        if ready_fd is not None:
            with contextlib.suppress(OSError):
                os.write(ready_fd, f"error: {message}\n".encode())
        print(f"codetether daemon: {message}", flush=True)
        return 3
