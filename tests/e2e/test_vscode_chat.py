"""The VS Code chat view in real VS Code (issue 12; finding E8: the chat was plain monospace
text, no Markdown, no code blocks, no tool-call cards, no model picker): the packaged (bundled) extension in
code-server, driven in headless Chromium (tests/e2e/vscode/drive.cjs, mode "chat"), with the
real language server and daemon and a scripted model.

The model answers with Markdown (a heading, a list, a code block) carrying an
``<img onerror>`` and a ``<script>`` that must show as text and never run; runs a command
(a tool card with its output) and an edit (a card with its diff); the model picker lists the
daemon's models; a new session, then the session list resumes the first one with its history;
the window is reloaded and the history is still there. Needs scripts/vscode-e2e-setup.sh, as
tests/e2e/test_vscode_real.py does; also checks the .vsix holds only the bundles, media and
package files.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest
from codetether.daemon.testing import ScriptedVendorServer, Turn

# root and vsix are the real-VS-Code test's fixtures: a short temp root, the packaged .vsix.
from .test_vscode_real import CLI, HELLO, _code_server, _drive, _env, root, vsix

__all__ = ["root", "vsix"]

MARKDOWN = """# Markdown heading

- first item
- second item

```python
def answer():
    return 42
```

Raw HTML stays text: <img src=x onerror="document.body.dataset.pwned=1"> and
<script>document.body.dataset.pwned=2</script>
"""

#: The model's turns, in the order the driver's prompts consume them.
TURNS = [
    Turn.text(MARKDOWN),  # "show markdown"
    Turn.tool("bash", {"command": "echo card-output-$((6*7))"}),  # "run the command"
    Turn.text("Ran the command."),
    Turn.tool("edit", {"path": "hello.py", "old_string": "world", "new_string": "cards"}),  # "edit the file"
    Turn.text("Edited it."),
    Turn.text("Second answer."),  # "second session" (after New)
]


def test_vsix_holds_only_the_bundles_media_and_package_files(vsix: Path) -> None:
    names = set(zipfile.ZipFile(vsix).namelist())
    extension = {n.removeprefix("extension/") for n in names if n.startswith("extension/")}
    assert {"dist/extension.js", "dist/webview.js", "media/chat.css", "package.json"} <= extension
    assert not [n for n in extension if n.startswith(("node_modules/", "out/", "src/", "test/"))], sorted(extension)
    assert not [n for n in extension if n.endswith((".ts", ".map"))], sorted(extension)
    assert vsix.stat().st_size < 300_000, vsix.stat().st_size


@pytest.mark.timeout(600)
async def test_vscode_chat_view_in_code_server(vsix: Path, root: Path) -> None:
    home, workspace = root / "h", root / "ws"
    (home / "config").mkdir(parents=True)
    env = _env(home)
    try:
        async with ScriptedVendorServer(TURNS, fallback="(no more turns)") as model:
            (home / "config" / "config.toml").write_text(
                '[default]\nprovider = "loopback"\nmodel = "scripted-model"\n\n'
                f'[providers.loopback]\nbase_url = "{model.openai_base_url}"\n')
            settings = {"codetether.serverCommand": [CLI, "lsp"], "codetether.approvalMode": "auto"}
            async with _code_server(root, workspace, vsix, env, settings) as url:
                output = await _drive(root, url, workspace, env, mode="chat")
            # Every scripted turn was asked for, and nothing more: resuming an idle session
            # and reloading the window ask the model nothing.
            assert len(model.requests_for("openai")) == len(TURNS)
        assert (workspace / "hello.py").read_text() == HELLO.replace("world", "cards")
        transcript = json.loads(output.split("[drive] transcript: ", 1)[1].splitlines()[0])
        assert "Markdown heading" in transcript and "Second answer." not in transcript
    finally:
        subprocess.run([CLI, "daemon", "stop"], env={**env, "CODETETHER_HOME": str(home)},
                       capture_output=True, timeout=60)
