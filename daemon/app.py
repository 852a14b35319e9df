"""The composition root: every long-lived component, built from the config, closed in reverse.

:class:`App` owns what outlives a call: the session store and the live sessions, the
approval store, the tool registry, the model resolver, the recorder and the file
watcher. The API reads and drives them; transports never see them. Its ``state``
says where it is in its life::

    RUNNING  --stop_runs()-->  STOPPING  --aclose()-->  CLOSED

A config reload fans out through :meth:`App.apply_config`; a config that stops
loading makes :attr:`App.config_error` refuse every call that would start work.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from typing import Any

from .core.approvals import ApprovalBackend, ApprovalStore
from .core.bus import AgentRegistry, Bus, make_bus
from .core.bus import State as BusState
from .core.config import Config, LoadedConfig
from .core.providers import ModelResolver
from .core.records import Recorder
from .core.sessions import FileWatcher, MemorySessionStore, SessionBackend, SessionRuntime, SessionStore
from .core.tools import ShellLimits, Subagents, ToolRegistry, default_registry
from .errors import ConfigError, Unavailable
from .paths import Paths
from .wire.bus import BusMessage

__all__ = ["App", "State"]

log = logging.getLogger("codetether.app")

#: Idle live sessions kept in memory; past this the least recently used idle one is
#: dropped (saved first; it loads from the store again when next used). Without a bound,
#: a daemon serving A2A tasks (one session each) would grow by every task it ever ran.
MAX_IDLE_RUNTIMES = 64


class State(enum.Enum):
    RUNNING = "running"
    STOPPING = "stopping"  # runs cancelled, nothing new starts; calls in flight drain
    CLOSED = "closed"


class App:
    """``runtimes`` caches live sessions by id (loaded on first use).
    ``shutdown_requested`` is set by ``daemon/shutdown``: the runner's cue to stop."""

    def __init__(self, paths: Paths, loaded: LoadedConfig, models: ModelResolver, *,
                 config_error: ConfigError | None = None) -> None:
        self.paths = paths
        self.loaded = loaded
        #: Set while config.toml does not load (at start or on a reload). Fail closed: every
        #: method that would start work answers this error until the file loads (S2).
        self.config_error: ConfigError | None = config_error
        self.models = models
        # auto_save is read at start-up: switching stores under live sessions would lose them.
        self.sessions: SessionBackend = (
            SessionStore(paths.sessions_dir) if loaded.config.session.auto_save else MemorySessionStore())
        self.approvals: ApprovalBackend = ApprovalStore(paths.approvals_dir)
        self.tools = tool_registry(loaded.config)
        self.recorder = Recorder(paths.data_dir, loaded.config)
        self.runtimes: dict[str, SessionRuntime] = {}
        self.watcher = FileWatcher(lambda: self.config.session.watch_files)
        self.started = time.time()
        #: Where the A2A listeners are, once the runner has bound them ("http_url", "grpc_address").
        self.endpoints: dict[str, str] = {}
        self.state = State.RUNNING
        self.shutdown_requested = asyncio.Event()
        self._config_lock = asyncio.Lock()
        #: Runs child agents for the ``task`` tool (set by the API, which knows how to run one).
        self.subagents: Subagents | None = None
        #: Long-lived work that is not one session's run (a swarm): cancelled first on stop.
        self.jobs: set[asyncio.Task[Any]] = set()
        #: The agent bus (``[bus] url``; in process by default), opened by :meth:`start`.
        #: ``bus_error`` says why the configured one is not the one in use.
        self.bus_error: str | None = None
        self.bus: Bus = self._make_bus(loaded.config.bus.url)
        #: Who is on the bus (sub-agents, workers, anything announcing itself).
        self.registry = AgentRegistry()

    def _make_bus(self, url: str | None) -> Bus:
        try:
            return make_bus(url, self.paths.data_dir / "bus")
        except ConfigError as exc:
            # Fail closed: the daemon serves (so clients can say what is wrong) but refuses
            # to start work until the config is fixed.
            self.bus_error = exc.message
            self.config_error = self.config_error or exc
            return make_bus(None, self.paths.data_dir / "bus")

    async def start(self) -> None:
        """Open what needs the event loop: the bus. A NATS server that cannot be reached
        leaves the in-process bus in use (``bus_error`` says why): local agents still talk,
        cluster work is refused until the daemon restarts with the server up."""
        try:
            await self.bus.start()
        except Exception as exc:  # noqa: BLE001 - an unreachable bus must not stop the daemon
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            log.error("the bus at %s is unavailable (%s); using the in-process bus", self.config.bus.url, message)
            self.bus_error = f"bus {self.config.bus.url}: {message}"
            self.bus = make_bus(None, self.paths.data_dir / "bus")
            await self.bus.start()
        await self.registry.follow(self.bus)

    async def publish(self, topic: str, message: BusMessage, *, sender_id: str) -> None:
        """Publish on the bus for whoever watches (``bus tail``, the registry, workers);
        a bus that is not open, or fails, never stops the work that reports."""
        if self.bus.state is not BusState.OPEN:
            return
        try:
            await self.bus.publish(topic, message, sender_id=sender_id)
        except Exception as exc:  # noqa: BLE001 - reporting is best effort by design
            log.debug("bus publish on %s failed: %s", topic, exc)

    @property
    def bus_kind(self) -> str:
        """"nats" when the configured NATS bus is in use, else "local"."""
        return "nats" if self.config.bus.url and self.bus_error is None else "local"

    @property
    def config(self) -> Config:
        return self.loaded.config

    @property
    def stopping(self) -> bool:
        """An ordered shutdown has begun: runs cancelled by it leave their pending tool
        calls for a resume instead of closing them."""
        return self.state is not State.RUNNING

    def runtime(self, session_id: str) -> SessionRuntime:
        """The live session ``session_id``, loaded from the store on first use."""
        if self.state is State.CLOSED:
            raise Unavailable("the daemon is shutting down")
        rt = self.runtimes.pop(session_id, None)
        if rt is not None:
            self.runtimes[session_id] = rt  # most recently used last
        else:
            rt = SessionRuntime(self.sessions.get(session_id), self.sessions)
            recorder = self.recorder

            def record(seq: int, event: Any, rt: SessionRuntime = rt) -> None:
                recorder.on_event(rt.id, rt.meta.model, seq, event, rt.meta.parent_id, _tags(rt))

            rt.hub.on_publish = record
            self.runtimes[session_id] = rt
            if rt.meta.read_files:  # watch only what the agent has actually read
                self.watcher.track(rt)
            self._evict_idle(keep=rt)
        return rt

    def _evict_idle(self, keep: SessionRuntime) -> None:
        """Drop the least recently used idle runtimes beyond MAX_IDLE_RUNTIMES."""
        if len(self.runtimes) <= MAX_IDLE_RUNTIMES + 1:  # cannot be more idle ones than that
            return
        idle = [rt for rt in self.runtimes.values() if rt is not keep and rt.idle]
        for rt in idle[: max(0, len(idle) - MAX_IDLE_RUNTIMES)]:
            rt.save_meta()
            self.forget(rt.id)

    def forget(self, session_id: str) -> None:
        """Drop a deleted session's live state."""
        rt = self.runtimes.pop(session_id, None)
        if rt is not None:
            self.watcher.untrack(rt)

    def health(self) -> dict[str, Any]:
        ok, error = self.sessions.health()
        return {"sessions": {"ok": ok, "error": error}, **self.recorder.health()}

    def config_failed(self, error: ConfigError) -> None:
        """config.toml no longer loads: refuse to act until it does (S2)."""
        self.config_error = error

    async def apply_config(self, loaded: LoadedConfig) -> None:
        """A config that loads: every component takes its part of it."""
        from .core.secrets import SecretStore  # deferred with hvac behind it

        # One at a time, in the order asked: a reload and a `config --set` that interleave
        # at the await would leave the parts configured from different files.
        async with self._config_lock:
            self.loaded = loaded
            self.config_error = None
            await self.models.reconfigure(loaded.config, SecretStore(loaded.config.secrets))
            self.recorder.configure(loaded.config)
            self.tools = tool_registry(loaded.config)  # runs in flight keep the registry they started with
            for warning in loaded.warnings:
                log.warning("%s", warning)

    def stop_runs(self) -> None:
        """Begin an ordered shutdown: nothing new starts, and every run is cancelled
        (its open tool calls are kept for a resume after the restart)."""
        if self.state is State.RUNNING:
            self.state = State.STOPPING
        for job in list(self.jobs):
            job.cancel()
        for rt in list(self.runtimes.values()):
            rt.cancel_run()

    def add_job(self, task: asyncio.Task[Any]) -> None:
        """Track ``task`` until it ends; :meth:`stop_runs` cancels it, :meth:`aclose` awaits it."""
        self.jobs.add(task)
        task.add_done_callback(self.jobs.discard)

    async def aclose(self) -> None:
        """Close in reverse order of construction; idempotent."""
        if self.state is State.CLOSED:
            return
        if self.jobs:  # cancelled by stop_runs (or now): each saves its state as it ends
            jobs = list(self.jobs)
            for job in jobs:
                job.cancel()
            await asyncio.wait(jobs)
        self.state = State.CLOSED
        await self.watcher.aclose()
        for rt in self.runtimes.values():
            rt.save_meta()
        self.sessions.close()
        await self.models.aclose()
        await self.registry.stop()
        await self.bus.close()
        self.recorder.close()


def _tags(rt: SessionRuntime) -> dict[str, str] | None:
    """The OKR run (and relay) a session works for, from its meta: its records carry them."""
    state = rt.meta.state
    # where each kind of session keeps them: key -> ((tag, field), ...)
    fields = {"go": (("okr_id", "okr_id"), ("okr_run_id", "run_id")),
              "go_story": (("okr_id", "okr_id"), ("okr_run_id", "run_id")),
              "relay": (("relay_id", "id"), ("okr_id", "okr_id"), ("okr_run_id", "okr_run_id"))}
    for key, pairs in fields.items():
        found = state.get(key)
        if isinstance(found, dict):
            tags = {tag: str(found[src]) for tag, src in pairs if found.get(src)}
            if tags:
                return tags
    return None


def tool_registry(config: Config) -> ToolRegistry:
    """The built-in tools with the configured shell limits."""
    t = config.tools
    return default_registry(shell_limits=ShellLimits(
        address_space=t.bash_memory_mb << 20, file_size=t.bash_file_size_mb << 20,
        max_processes=t.bash_max_processes, output_chars=t.bash_max_output))
