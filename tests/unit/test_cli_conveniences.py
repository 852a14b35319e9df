"""The conveniences' parsers and pure parts: run -f, completion, and the commands below."""

from __future__ import annotations

from pathlib import Path

import pytest
from codetether.daemon.cli.args import build_parser
from codetether.daemon.cli.run import UsageError, attach_files


def _parse(*argv: str):
    return build_parser(list(argv)).parse_args(list(argv))


def test_run_file_is_repeatable():
    args = _parse("run", "-f", "a.py", "--file", "b.py", "explain")
    assert args.file == ["a.py", "b.py"] and args.prompt == ["explain"]
    assert _parse("run", "x").file is None


def test_attach_files_inside_and_outside_the_workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.py").write_text("print(1)\n")
    (tmp_path / "out.txt").write_text("outside\n")
    text = attach_files("explain", [str(ws / "a.py"), str(tmp_path / "out.txt")], str(ws))
    assert text.startswith("explain\n\n") and '<file path="a.py">\nprint(1)\n</file>' in text
    assert f'<file path="{tmp_path / "out.txt"}">' in text
    assert attach_files("p", [], str(ws)) == "p"


@pytest.mark.parametrize(("setup", "why"), [
    (lambda d: None, "no such file"),
    (lambda d: (d / "f").mkdir(), "is a directory"),
    (lambda d: (d / "f").write_bytes(b"\xff\xfe\x00binary"), "not a UTF-8 text file"),
])
def test_attach_files_refuses_what_it_cannot_attach(tmp_path, setup, why):
    setup(tmp_path)
    with pytest.raises(UsageError, match=why):
        attach_files("p", [str(tmp_path / "f")], str(tmp_path))


def test_completion_takes_a_known_shell(capsys):
    assert _parse("completion", "fish").shell == "fish"
    with pytest.raises(SystemExit):
        _parse("completion", "tcsh")
    assert "invalid choice" in capsys.readouterr().err


def test_config_schema_is_one_of_show_set_schema(capsys):
    assert _parse("config", "--schema").schema is True
    with pytest.raises(SystemExit):
        _parse("config", "--schema", "--show")
    assert "not allowed with" in capsys.readouterr().err


def test_json_schema_has_every_section_and_field_comments():
    from codetether.daemon.core.config import Config, json_schema

    schema = json_schema()
    config = schema["$defs"]["Config"]["properties"]
    assert set(config) == set(Config.__struct_fields__)
    tool_budget = schema["$defs"]["SessionSection"]["properties"]["tool_output_budget"]
    assert tool_budget["description"] == "Characters of one tool result kept in the transcript."


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(("tty", "env", "on"), [
    (True, {}, True),
    (False, {}, False),
    (True, {"NO_COLOR": "1"}, False),
    (True, {"NO_COLOR": ""}, True),  # set but empty does not count (no-color.org)
    (True, {"TERM": "dumb"}, False),
    (False, {"FORCE_COLOR": "1"}, True),
    (False, {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
])
def test_colour_is_decided_in_one_place(tty, env, on):
    from codetether.daemon.cli.colour import enabled

    assert enabled(_Stream(tty), env) is on  # type: ignore[arg-type]


def test_palette_styles_or_leaves_text_alone():
    from codetether.daemon.cli.colour import Palette

    on, off = Palette(_Stream(True), on=True), Palette(_Stream(True), on=False)  # type: ignore[arg-type]
    assert on.style("x", "red", "bold") == "\x1b[31;1mx\x1b[0m" and off.style("x", "red") == "x"
    diff = "  --- a/f\n  +++ b/f\n  @@ -1 +1 @@\n  -old\n  +new\n   same"
    coloured = on.diff(diff, indent="  ")
    assert "  \x1b[31m-old\x1b[0m" in coloured and "  \x1b[32m+new\x1b[0m" in coloured
    assert coloured.endswith("   same") and off.diff(diff, indent="  ") == diff


def test_doctor_socket_dir_modes(tmp_path):
    from codetether.daemon.cli.doctor import check_socket_dir
    from codetether.daemon.paths import Paths

    paths = Paths(tmp_path / "c", tmp_path / "d", tmp_path / "run")
    assert check_socket_dir(paths).status == "ok"  # not made yet
    (tmp_path / "run").mkdir(mode=0o700)
    assert check_socket_dir(paths).status == "ok"
    (tmp_path / "run").chmod(0o750)
    bad = check_socket_dir(paths)
    assert bad.status == "fail" and bad.fix == f"chmod 700 {tmp_path / 'run'}"


def test_doctor_parser():
    assert _parse("doctor", "--json").json is True


def test_sessions_export_and_import_parsers():
    args = _parse("sessions", "export", "S1", "-o", "s.json")
    assert (args.action, args.id, args.out) == ("export", "S1", "s.json")
    args = _parse("sessions", "import", "-", "--workspace", "/w")
    assert (args.action, args.file, args.workspace) == ("import", "-", "/w")


def test_daemon_install_parser_and_unit_text(tmp_path):
    from codetether.daemon.cli.daemon_unit import unit_path, unit_text

    assert _parse("daemon", "install", "--no-enable").no_enable is True
    assert _parse("daemon", "uninstall").action == "uninstall"
    assert unit_path({"HOME": "/h"}) == Path("/h/.config/systemd/user/codetether.service")
    assert unit_path({"HOME": "/h", "XDG_CONFIG_HOME": "/x"}) == Path("/x/systemd/user/codetether.service")
    text = unit_text("/opt/py 3/bin/python", {"PATH": "/a:/b", "CODETETHER_HOME": "/h/100%"})
    assert 'ExecStart="/opt/py 3/bin/python" -m codetether.daemon' in text
    assert 'Environment="CODETETHER_HOME=/h/100%%"' in text  # % is a specifier in units
    assert "Environment=\"PATH=/a:/b\"" in text and "XDG_RUNTIME_DIR" not in text


def test_the_unit_refuses_a_newline_and_escapes_dollars_in_its_command():
    """A value with a newline would start a directive of its own (ExecStartPre=...): refused.
    systemd expands $ in ExecStart=, so the interpreter's path has it doubled; not in Environment=."""
    import pytest
    from codetether.daemon.cli.daemon_unit import unit_text

    text = unit_text("/opt/p$y/python", {"PATH": "/a$b:/c", "HOME": "/root"})
    assert 'ExecStart="/opt/p$$y/python" -m codetether.daemon' in text
    assert 'Environment="PATH=/a$b:/c"' in text
    with pytest.raises(SystemExit, match="control character"):
        unit_text("/x", {"PATH": "/a\nExecStartPre=/bin/evil", "HOME": "/root"})
