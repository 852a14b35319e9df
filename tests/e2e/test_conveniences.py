"""Issue 12's conveniences through the CLI, against the real daemon: project instructions,
`run -f`, stdin prompts."""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
from pathlib import Path

from codetether.daemon.core.providers.scripted import Turn
from codetether.daemon.testing.vendor_servers import ScriptedVendorServer


async def _cli(home, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(home.cli.__globals__["CLI"]), *args, cwd=home.workspace, env=home.env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def _repo(home) -> None:
    subprocess.run(["git", "init", "-q", str(home.workspace)], check=True)
    (home.workspace / "AGENTS.md").write_text("Always answer in French.\n")
    (home.workspace / "sub").mkdir()
    (home.workspace / "sub" / "CLAUDE.md").write_text("Use tabs.\n")


def test_instructions_shows_the_files_and_the_prompt(home) -> None:
    _repo(home)
    home.script("ok")
    sub = home.workspace / "sub"
    view = home.json("instructions", "--workspace", str(sub))
    assert [p["path"] for p in view["parts"]] == [str(home.workspace / "AGENTS.md"), str(sub / "CLAUDE.md")]
    prompt = view["system_prompt"]
    assert prompt.startswith("You are codetether") and prompt.index("French") < prompt.index("tabs")
    text = home.cli("instructions", check=True).stdout  # from the cwd: the repository root
    assert f"{home.workspace / 'AGENTS.md'}  25 bytes" in text and "Use tabs" not in text
    assert "--- system prompt ---" in text and "Always answer in French." in text


async def test_the_model_gets_the_instructions_and_attached_files(home) -> None:
    _repo(home)
    (home.workspace / "notes.txt").write_text("the secret word is plum\n")
    async with ScriptedVendorServer([Turn.text("d'accord"), Turn.text("vu"), Turn.text("lu")]) as server:
        home.write_config(f'[default]\nprovider = "openai"\nmodel = "m"\n\n[secrets]\nallow_env = true\n\n'
                          f'[providers.openai]\nbase_url = "{server.openai_base_url}"\n')
        home.extra_env["OPENAI_API_KEY"] = "sk-test-key-0123456789"
        code, out, err = await _cli(home, "run", "hello")
        assert code == 0, err
        assert out.strip() == "d'accord"
        system = server.requests_for("openai")[0].body["messages"][0]
        assert system["role"] == "system" and "Always answer in French." in system["content"]
        # An edit to AGENTS.md reaches the next run.
        (home.workspace / "AGENTS.md").write_text("Always answer in Latin, at length.\n")
        # -f attaches a file, as @notes.txt would; stdin piped with a prompt is attached too.
        code, out, err = await _cli(home, "run", "-f", "notes.txt", "what is the word?",
                                    stdin=b"some piped context\n")
        assert code == 0, err
        body = server.requests_for("openai")[1].body["messages"]
        assert "Latin" in body[0]["content"] and "French" not in body[0]["content"]
        user = body[-1]["content"]
        user = user if isinstance(user, str) else json.dumps(user)
        assert "what is the word?" in user and "some piped context" in user
        assert '<file path="notes.txt">' in user and "the secret word is plum" in user
        # `run -` reads the whole prompt from stdin.
        code, out, err = await _cli(home, "run", "-", stdin=b"a prompt from stdin\n")
        assert code == 0, err
        user = server.requests_for("openai")[2].body["messages"][-1]["content"]
        assert "a prompt from stdin" in (user if isinstance(user, str) else json.dumps(user))
        # A file that does not exist is a usage error, before anything runs.
        code, out, err = await _cli(home, "run", "-f", "missing.txt", "hi")
        assert code == 2 and "missing.txt" in err
        assert len(server.requests_for("openai")) == 3


def test_completion_scripts_complete_commands_and_flags(home) -> None:
    script = home.cli("completion", "bash", check=True).stdout
    path = home.root / "codetether.bash"
    path.write_text(script)

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        probe = (f'source {path}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; '
                 f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; _shtab_codetether; '
                 'printf "%s\\n" "${COMPREPLY[@]}"')
        done = subprocess.run(["bash", "--norc", "-c", probe], capture_output=True, text=True, check=True)
        return done.stdout.split()

    assert complete("codetether", "ses") == ["sessions"]
    assert "instructions" in complete("codetether", "i")
    assert complete("codetether", "run", "--fi") == ["--file"]
    assert complete("codetether", "completion", "z") == ["zsh"]
    for shell, marker in (("zsh", "#compdef codetether"), ("fish", "complete -c codetether")):
        text = home.cli("completion", shell, check=True).stdout
        assert marker in text and "sessions" in text and "--approval-mode" in text
    bad = home.cli("completion", "tcsh")
    assert bad.returncode == 2 and "invalid choice: 'tcsh'" in bad.stderr
    assert not (home.root / "run" / "daemon.pid").exists()  # no daemon needed


def test_config_schema_describes_what_config_show_prints(home) -> None:
    import tomllib

    import jsonschema

    schema = json.loads(home.cli("config", "--schema", check=True).stdout)
    assert not (home.root / "run" / "daemon.pid").exists()  # generated locally: no daemon
    jsonschema.Draft202012Validator.check_schema(schema)
    session = schema["$defs"]["SessionSection"]["properties"]
    assert session["max_steps"] == {"type": "integer", "minimum": 1, "default": 25}
    assert "compacted" in session["compact_threshold"]["description"]  # from the #: comment
    home.script("ok")
    home.cli("config", "--set", "session.max_steps=40", check=True)
    shown = home.json("config", "--show")
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(shown["config"])
    assert shown["config"]["session"]["max_steps"] == 40
    toml = tomllib.loads(home.cli("config", "--show", check=True).stdout)
    assert toml["session"]["max_steps"] == 40
    validator.validate(toml)
    # The schema refuses what the daemon refuses.
    assert list(validator.iter_errors({"session": {"max_steps": 0}}))


def _on_a_pty(home, *args: str, env: dict[str, str] | None = None) -> str:
    """The CLI's whole output on a pseudo-terminal (util-linux `script`)."""
    import shlex
    import shutil

    script = shutil.which("script")
    assert script is not None, "needs util-linux `script`"
    cmd = " ".join(shlex.quote(a) for a in (home.cli.__globals__["CLI"], *args))
    done = subprocess.run([script, "-qec", cmd, "/dev/null"], capture_output=True, env={**home.env, **(env or {})},
                          cwd=home.workspace, stdin=subprocess.DEVNULL, timeout=120)
    return done.stdout.decode(errors="replace")


def test_colour_on_a_terminal_none_on_pipes_or_with_no_color(home) -> None:
    turns = [{"tool": "write_file", "arguments": {"path": "out.txt", "content": "hi\n"}}, "done"]
    home.script(*turns, *turns, *turns)  # one script for the three runs
    home.config_file.write_text(home.config_file.read_text() + '\n[permissions]\nmode = "auto"\n')
    coloured = _on_a_pty(home, "run", "write it")
    assert "\x1b[36;1m⚙ write_file\x1b[0m" in coloured and "\x1b[32m✓\x1b[0m" in coloured
    assert "\x1b[32m+1\x1b[0m" in coloured  # the change's counts
    plain = _on_a_pty(home, "run", "write it again", env={"NO_COLOR": "1"})
    assert "⚙ write_file" in plain and "\x1b[36" not in plain and "\x1b[32" not in plain
    piped = home.cli("run", "and again", check=True)
    assert "⚙ write_file" in piped.stderr and "\x1b[" not in piped.stderr + piped.stdout
    # Errors too: red on the terminal, plain on a pipe.
    assert "\x1b[31;1mcodetether:\x1b[0m" in _on_a_pty(home, "sessions", "show", "nope")
    assert "\x1b[" not in home.cli("sessions", "show", "nope").stderr


def _doctor(home, **env: str) -> tuple[int, dict[str, dict[str, str]], str]:
    saved = dict(home.extra_env)
    home.extra_env.update(env)
    try:
        proc = home.cli("doctor", "--json")
        text = home.cli("doctor").stdout
    finally:
        home.extra_env.clear()
        home.extra_env.update(saved)
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    return proc.returncode, checks, text


def test_doctor_checks_the_install_and_says_how_to_fix(home) -> None:
    home.script("ok")
    code, checks, text = _doctor(home)
    assert code == 0, checks
    assert [n for n in checks][:4] == ["python", "llama.cpp", "model", "ripgrep"]
    assert checks["python"]["status"] == "ok" and checks["ripgrep"]["status"] == "ok"
    assert checks["config"]["status"] == "ok" and checks["socket dir"]["status"] == "ok"
    assert checks["vault"]["status"] == "warn" and "neovim" in checks and "vs code" in checks
    assert len(text.splitlines()) == len(checks)  # one line each
    # A socket directory others can reach is broken, and the fix is named.
    home.cli("daemon", "start", check=True)
    run_dir = home.root / "run"
    assert _doctor(home)[1]["socket dir"]["status"] == "ok"
    run_dir.chmod(0o755)
    code, checks, text = _doctor(home)
    assert code == 1 and checks["socket dir"]["status"] == "fail"
    assert f"chmod 700 {run_dir}" in text and "✗ socket dir" in text
    run_dir.chmod(0o700)
    # An embedded default model with no file, and a config that does not load.
    empty = home.root / "models"
    empty.mkdir()
    home.write_config('[default]\nprovider = "embedded"\nmodel = "gemma3-270m"\n')
    code, checks, text = _doctor(home, CODETETHER_MODELS=str(empty))
    assert code == 1 and checks["model"]["status"] == "fail"
    assert checks["model"]["fix"] == "codetether models pull gemma3-270m"
    home.write_config("[session]\nmax_steps = 0\n")
    code, checks, _ = _doctor(home)
    assert code == 1 and checks["config"]["status"] == "fail" and "max_steps" in checks["config"]["detail"]
    assert checks["model"]["status"] == "warn"  # not checked without a config


def test_doctor_checks_vault_and_its_token(home, vault) -> None:
    home.script("ok")
    code, checks, _ = _doctor(home, **vault.env())
    assert code == 0 and checks["vault"]["status"] == "ok" and checks["vault token"]["detail"] == "accepted"
    code, checks, text = _doctor(home, **vault.env(VAULT_TOKEN="not-a-token"))
    assert code == 1 and checks["vault token"]["status"] == "fail" and "vault login" in text
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens on it
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    code, checks, _ = _doctor(home, VAULT_ADDR=closed, VAULT_TOKEN="x")
    assert code == 1 and "unreachable" in checks["vault"]["detail"]


def _auto(home, *turns) -> None:
    home.script(*turns)
    home.config_file.write_text(home.config_file.read_text() + '\n[permissions]\nmode = "auto"\n')


def test_undo_restores_the_agents_changes_newest_first_and_refuses_conflicts(home) -> None:
    ws = home.workspace
    (ws / "app.py").write_text("def f():\n    return 1\n\nprint(f())\n")
    (ws / "old.txt").write_text("to be deleted\n")
    edit = {"tool": "edit", "arguments": {"path": "app.py", "old_string": "return 1", "new_string": "return 2"}}
    edit2 = {"tool": "edit", "arguments": {"path": "app.py", "old_string": "return 2", "new_string": "return 3"}}
    create = {"tool": "write_file", "arguments": {"path": "new/made.txt", "content": "fresh\n"}}
    delete = {"tool": "apply_patch", "arguments": {"patch": "--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-to be deleted\n"}}
    _auto(home, edit, create, "first done", edit2, delete, "second done")
    home.cli("run", "first", check=True)
    home.cli("run", "-c", "second", check=True)
    assert "return 3" in (ws / "app.py").read_text() and not (ws / "old.txt").exists()
    assert (ws / "new" / "made.txt").exists()
    sid = home.json("sessions", "list")[0]["id"]

    dry = home.json("undo", "--dry-run")
    assert [(c["number"], c["path"], c["status"]) for c in dry["changes"]] == [
        (3, "app.py", "restored"), (4, "old.txt", "restored")]
    assert dry["applied"] is False and "return 3" in (ws / "app.py").read_text()

    # The last prompt's changes: the second edit and the deletion.
    out = home.cli("undo", check=True).stdout
    assert "#4   delete old.txt  (apply_patch): restored" in out
    assert "return 2" in (ws / "app.py").read_text() and (ws / "old.txt").read_text() == "to be deleted\n"
    assert [c["status"] for c in home.json("undo", sid, "--dry-run")["changes"]] == ["already", "already"]

    # A file the user changed since: nothing is written, the conflict is shown.
    (ws / "app.py").write_text((ws / "app.py").read_text().replace("print(f())", "print(f() + 1)"))
    (ws / "app.py").write_text((ws / "app.py").read_text().replace("return 2", "return 20"))
    proc = home.cli("undo", sid, "--to", "0")
    assert proc.returncode == 1
    assert "#1   modify app.py  (edit): CONFLICT" in proc.stdout and "return 20" in proc.stdout
    assert "nothing was changed" in proc.stdout
    assert (ws / "new" / "made.txt").exists()  # all or nothing
    # Put it back as the agent left it: everything undoes to the start.
    (ws / "app.py").write_text("def f():\n    return 2\n\nprint(f())\n")
    result = home.json("undo", sid, "--to", "0")
    assert result["applied"] and [c["status"] for c in result["changes"]] == [
        "restored", "restored", "already", "already"]
    assert (ws / "app.py").read_text() == "def f():\n    return 1\n\nprint(f())\n"
    assert not (ws / "new" / "made.txt").exists()
    bad = home.cli("undo", sid, "--to", "9")
    assert bad.returncode == 2 and "between 0 and 4" in bad.stderr


def test_sessions_export_and_import_with_secrets_redacted(home) -> None:
    import stat
    import uuid

    canary = f"sk-ant-later-{uuid.uuid4().hex}"
    home.script(f"the key is {canary}", "second answer", "after import")
    home.cli("run", "what is the key?", check=True)
    sid = home.json("sessions", "list")[0]["id"]
    # The key becomes known to the daemon only now (a client forwards it with a prompt):
    # the transcript written before holds it, the export must not.
    home.extra_env["ANTHROPIC_API_KEY"] = canary
    home.cli("run", "-c", "and again", check=True)
    out = home.root / "export.json"
    said = home.cli("sessions", "export", sid, "--out", str(out), check=True).stdout
    assert f"exported {sid} (4 messages)" in said
    text = out.read_text()
    assert canary not in text and "the key is [REDACTED]" in text
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    document = json.loads(text)
    assert document["format"] == "codetether.session" and document["meta"]["id"] == sid
    assert home.cli("sessions", "export", sid, check=True).stdout.strip() != ""  # stdout by default

    other = home.workspace / "elsewhere"
    other.mkdir()
    info = home.json("sessions", "import", str(out), "--workspace", str(other))
    assert info["id"] != sid and info["message_count"] == 4 and info["workspace"] == str(other)
    shown = home.json("sessions", "show", info["id"])
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant", "user", "assistant"]
    assert shown["messages"][1]["content"] == "the key is [REDACTED]"
    # The imported session goes on like any other.
    assert home.cli("run", "-s", info["id"], "-w", str(other), "go on", check=True).stdout.strip() == "after import"

    (home.root / "bad.json").write_text('{"format": "something else"}')
    bad = home.cli("sessions", "import", str(home.root / "bad.json"))
    assert bad.returncode == 2 and "not an exported session" in bad.stderr
    assert home.cli("sessions", "export", "nope").returncode == 4


def test_daemon_install_writes_the_unit_and_uninstall_removes_it(home) -> None:
    import shutil
    import sys

    # A PATH without systemctl: the unit is written and the command says how to enable it.
    bin_dir = home.root / "bin"
    bin_dir.mkdir()
    for tool in ("git", "rg"):
        found = shutil.which(tool) or str(Path(sys.executable).parent / tool)
        (bin_dir / tool).symlink_to(found)
    home.extra_env.update(HOME=str(home.root), PATH=str(bin_dir), XDG_CONFIG_HOME="")
    unit = home.root / ".config" / "systemd" / "user" / "codetether.service"
    proc = home.cli("daemon", "install", check=True)
    assert f"wrote {unit}" in proc.stdout and "systemctl not found" in proc.stdout
    assert "systemctl --user daemon-reload && systemctl --user enable --now codetether.service" in proc.stdout
    text = unit.read_text()
    python = str(Path(home.cli.__globals__["CLI"]).parent / "python")
    exec_line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert exec_line.endswith(" -m codetether.daemon") and Path(exec_line.split('"')[1]).samefile(python)
    assert f'Environment="CODETETHER_HOME={home.root}"' in text and f'Environment="PATH={bin_dir}"' in text
    assert "[Install]\nWantedBy=default.target" in text and "Restart=on-failure" in text
    # The unit's command, in the unit's environment, really is the daemon: it says ready and
    # answers on the socket the CLI uses.
    import shlex

    argv = shlex.split(exec_line.removeprefix("ExecStart="))
    env = dict(shlex.split(line.removeprefix("Environment="))[0].split("=", 1)
               for line in text.splitlines() if line.startswith("Environment="))
    read_fd, write_fd = os.pipe()
    daemon = subprocess.Popen(argv, env={**env, "CODETETHER_READY_FD": str(write_fd)}, pass_fds=(write_fd,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        assert select.select([read_fd], [], [], 60)[0] and os.read(read_fd, 16) == b"ready\n"
        status = home.json("daemon", "status")
        assert status["running"] and status["pid"] == daemon.pid
        home.cli("daemon", "stop", check=True)
        assert daemon.wait(timeout=30) == 0
    finally:
        os.close(read_fd)
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert home.json("daemon", "uninstall") == {"unit": str(unit), "removed": True}
    assert not unit.exists()
    assert "not installed" in home.cli("daemon", "uninstall", check=True).stdout
    assert home.json("daemon", "install", "--no-enable")["enabled"] is False and unit.exists()
