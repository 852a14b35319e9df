"""config.toml: defaults, validation with key + line, editing, and live reload."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from codetether.daemon.core.config import (
    Config,
    LoadedConfig,
    ProviderSection,
    config_as_dict,
    load_config,
    parse_config,
    set_config_value,
)
from codetether.daemon.core.config._locate import format_key, key_lines, parse_key
from codetether.daemon.errors import ConfigError

FULL = """\
# everything, set to something other than its default
[default]
provider = "anthropic"
model = "claude-sonnet-4"

[session]
auto_save = false
max_steps = 40
tool_output_budget = 8000
compact_threshold = 0.5
watch_files = false

[permissions]
mode = "plan"

[permissions.rules]
bash = { "git push*" = "ask", "rm -rf *" = "deny" }
write_file = { "src/**" = "allow" }
"*" = { "**/.env" = "deny" }

[secrets]
vault_addr = "http://127.0.0.1:8200"
vault_mount = "kv"
vault_path = "team/providers"
allow_env = true
cache_ttl = 60

[providers.openai]
base_url = "http://localhost:8080/v1"
model = "gpt-4o"
models = ["gpt-4o", "o3"]
context_window = 128000
headers = { "X-Org" = "acme" }

[providers.bedrock]
region = "eu-west-1"

[providers.embedded]
model_path = "/models/tiny.gguf"
n_ctx = 4096

[providers.scripted]
script = "replies.json"

[providers.gateway]
api = "anthropic"
base_url = "http://127.0.0.1:9"
read_timeout = 30
max_attempts = 2
thinking_budget = 0

[tools]
bash_timeout = 30.5
bash_max_output = 1000
websearch_url = "http://127.0.0.1:9/search"

[daemon]
max_message_bytes = 1048576
log_level = "debug"
"""


# --- loading ------------------------------------------------------------------------


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    loaded = load_config(tmp_path / "nope" / "config.toml")
    assert loaded.warnings == []
    c = loaded.config
    assert c == Config()
    assert (c.default.provider, c.default.model) == ("embedded", "smollm2-135m")
    assert c.session.auto_save is True
    assert c.session.max_steps == 25
    assert c.session.tool_output_budget == 16000
    assert c.session.compact_threshold == 0.8
    assert c.session.watch_files is True
    assert c.permissions.mode == "ask"
    assert c.permissions.rules == {}
    assert c.secrets.vault_addr is None
    assert (c.secrets.vault_mount, c.secrets.vault_path) == ("secret", "codetether/providers")
    assert c.secrets.allow_env is False
    assert c.secrets.cache_ttl == 300.0
    assert c.providers == {}
    assert (c.tools.bash_timeout, c.tools.bash_max_output, c.tools.websearch_url) == (120.0, 30000, None)
    assert (c.daemon.max_message_bytes, c.daemon.log_level) == (8388608, "info")


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# nothing yet\n")
    assert load_config(path) == LoadedConfig(Config(), [])


def test_full_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(FULL)
    loaded = load_config(path)
    assert loaded.warnings == []
    c = loaded.config
    assert (c.default.provider, c.default.model) == ("anthropic", "claude-sonnet-4")
    assert c.session.auto_save is False and c.session.watch_files is False
    assert (c.session.max_steps, c.session.tool_output_budget) == (40, 8000)
    assert c.session.compact_threshold == 0.5
    assert c.permissions.mode == "plan"
    assert c.permissions.rules == {
        "bash": {"git push*": "ask", "rm -rf *": "deny"},
        "write_file": {"src/**": "allow"},
        "*": {"**/.env": "deny"},
    }
    assert c.secrets.vault_addr == "http://127.0.0.1:8200"
    assert (c.secrets.vault_mount, c.secrets.vault_path) == ("kv", "team/providers")
    assert c.secrets.allow_env is True
    assert c.secrets.cache_ttl == 60.0 and isinstance(c.secrets.cache_ttl, float)
    assert c.providers["openai"] == ProviderSection(
        base_url="http://localhost:8080/v1",
        model="gpt-4o",
        models=["gpt-4o", "o3"],
        context_window=128000,
        headers={"X-Org": "acme"},
    )
    assert c.providers["bedrock"].region == "eu-west-1"
    assert c.providers["embedded"].model_path == "/models/tiny.gguf"
    assert c.providers["embedded"].n_ctx == 4096
    assert c.providers["scripted"].script == "replies.json"
    gateway = c.providers["gateway"]
    assert (gateway.api, gateway.read_timeout, gateway.max_attempts, gateway.thinking_budget) == (
        "anthropic",
        30.0,
        2,
        0,
    )
    assert (c.tools.bash_timeout, c.tools.bash_max_output) == (30.5, 1000)
    assert c.tools.websearch_url == "http://127.0.0.1:9/search"
    assert (c.daemon.max_message_bytes, c.daemon.log_level) == (1048576, "debug")


def test_config_is_frozen() -> None:
    c = Config()
    with pytest.raises(AttributeError):
        c.session = c.session  # type: ignore[misc]
    with pytest.raises(AttributeError):
        c.session.max_steps = 3  # type: ignore[misc]


def test_config_as_dict_is_plain_data_and_round_trips() -> None:
    c = parse_config(FULL).config
    d = config_as_dict(c)
    assert d["providers"]["openai"]["models"] == ["gpt-4o", "o3"]
    assert "region" not in d["providers"]["openai"]  # unset optionals are omitted
    assert "vault_addr" not in config_as_dict(Config())["secrets"]
    assert msgspec.convert(d, Config) == c
    msgspec.json.encode(d)  # serialisable as is


def test_unknown_keys_warn_with_dotted_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "[default]\n"  # 1
        'provider = "openai"\n'  # 2
        "\n"  # 3
        "[session]\n"  # 4
        "max_steps = 10\n"  # 5
        "# a typo follows\n"  # 6
        "max_stepz = 30\n"  # 7
        "[gui]\n"  # 8
        'theme = "dark"\n'  # 9
        "[providers.openai]\n"  # 10
        'api_key = "sk-not-here"\n'  # 11
    )
    loaded = load_config(path)
    assert loaded.config.session.max_steps == 10
    assert loaded.warnings[0] == f"{path}:7: unknown key 'session.max_stepz'"
    assert loaded.warnings[0].endswith("config.toml:7: unknown key 'session.max_stepz'")
    assert loaded.warnings[1] == f"{path}:8: unknown key 'gui'"
    assert loaded.warnings[2].startswith(f"{path}:11: unknown key 'providers.openai.api_key'")
    assert "Vault" in loaded.warnings[2]
    assert "sk-not-here" not in " ".join(loaded.warnings)
    assert len(loaded.warnings) == 3


def test_unknown_dotted_key_and_inline_table_key() -> None:
    text = 'session.colour = "red"\n[tools]\nx = { y = 1 }\n[providers.a]\nheaders = { A = "b" }\nbogus = 1\n'
    assert parse_config(text).warnings == [
        "config.toml:1: unknown key 'session.colour'",
        "config.toml:3: unknown key 'tools.x'",
        "config.toml:6: unknown key 'providers.a.bogus'",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[default]\nprovider = "x"\n[session]\nmax_steps = "many"\n',
            "config.toml:4: session.max_steps: Expected `int`, got `str`",
        ),
        ("[session]\n\nmax_steps = 0\n", "config.toml:3: session.max_steps: Expected `int` >= 1"),
        (
            "[session]\ntool_output_budget = 100\n",
            "config.toml:2: session.tool_output_budget: Expected `int` >= 256",
        ),
        (
            "[session]\ncompact_threshold = 1.5\n",
            "config.toml:2: session.compact_threshold: Expected `float` <= 0.99",
        ),
        ('[permissions]\nmode = "yolo"\n', "config.toml:2: permissions.mode: Invalid enum value 'yolo'"),
        (
            '[permissions.rules]\nread_file = { "*" = "allow" }\n'
            'bash = { "ls" = "allow", "git push*" = "maybe" }\n',
            "config.toml:3: permissions.rules.bash.\"git push*\": Invalid enum value 'maybe'",
        ),
        (
            '[providers.a]\nmodel = "m"\n[providers.b]\nmodels = [\n  "ok",\n  42,\n]\n',
            "config.toml:6: providers.b.models[1]: Expected `str`, got `int`",
        ),
        ("[providers.a]\nn_ctx = 0\n", "config.toml:2: providers.a.n_ctx: Expected `int` >= 1"),
        ('[providers.x]\napi = "soap"\n', "config.toml:2: providers.x.api: Invalid enum value 'soap'"),
        ("session = 3\n", "config.toml:1: session: Expected `object`, got `int`"),
        ("[secrets]\nallow_env = \"yes\"\n", "config.toml:2: secrets.allow_env: Expected `bool`, got `str`"),
        ('[daemon]\nlog_level = "loud"\n', "config.toml:2: daemon.log_level: Invalid enum value 'loud'"),
    ],
)
def test_bad_value_names_key_and_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert str(info.value) == expected


def test_bad_value_in_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[session]\nauto_save = true\nmax_steps = "x"\n')
    with pytest.raises(ConfigError, match=r"config\.toml:3: session\.max_steps: Expected `int`, got `str`"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[session]\nmax_steps = = 3\n", 2),
        ("[session]\nauto_save = true\nauto_save = false\n", 3),
        ('[default]\nprovider = "unterminated\n', 2),
        ("[session\n", 1),
    ],
)
def test_invalid_toml_names_line(text: str, line: int) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert str(info.value).startswith(f"config.toml:{line}: invalid TOML: ")


def test_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[default]\nprovider = "\xff"\n')
    with pytest.raises(ConfigError, match=r"config\.toml:2: not valid UTF-8"):
        load_config(path)


# --- the line locator -------------------------------------------------------------------


def test_locator_tracks_strings_arrays_and_tables() -> None:
    text = (
        'a = """\n'  # 1
        "[not.a.table]\n"  # 2
        'b = "not a key"\n'  # 3
        '"""\n'  # 4
        "c = [ # comment\n"  # 5
        "  { d = 1 },\n"  # 6
        "  'x]y',\n"  # 7
        "]\n"  # 8
        "[[arr]]\n"  # 9
        "k = 1\n"  # 10
        "[[arr]]\n"  # 11
        "k = 2\n"  # 12
        '[t."quoted key".u]\n'  # 13
        "v.w = 'lit'\n"  # 14
    )
    lines = key_lines(text)
    assert lines[("a",)] == 1
    assert ("not", "a", "table") not in lines and ("b",) not in lines
    assert lines[("c",)] == 5
    assert lines[("c", 0, "d")] == 6
    assert lines[("c", 1)] == 7
    assert lines[("arr", 0, "k")] == 10
    assert lines[("arr", 1, "k")] == 12
    assert lines[("t", "quoted key", "u")] == 13
    assert lines[("t", "quoted key", "u", "v", "w")] == 14


def test_key_parse_and_format_round_trip() -> None:
    for key in ["session.max_steps", 'permissions.rules.bash."git push*"', 'providers."a.b".model']:
        assert format_key(parse_key(key)) == key
    assert parse_key("a . 'b c'") == ("a", "b c")
    with pytest.raises(ValueError):
        parse_key("a..b")


# --- editing ----------------------------------------------------------------------------

COMMENTED = """\
# codetether configuration
[session]
# how long the agent may run
max_steps = 25  # steps per turn
auto_save = true

[tools]
bash_timeout = 60.0  # seconds
"""


def test_set_config_value_round_trip_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(COMMENTED)
    loaded = set_config_value(path, "session.max_steps", "30")
    assert loaded.config.session.max_steps == 30
    assert path.read_text() == COMMENTED.replace("max_steps = 25", "max_steps = 30")
    assert load_config(path).config.session.max_steps == 30


@pytest.mark.parametrize(
    ("key", "value", "check"),
    [
        ("session.auto_save", "false", lambda c: c.session.auto_save is False),
        ("default.model", "gpt-4o", lambda c: c.default.model == "gpt-4o"),  # bare word: a string
        ("default.model", '"true"', lambda c: c.default.model == "true"),
        ("providers.openai.models", '["a", "b"]', lambda c: c.providers["openai"].models == ["a", "b"]),
        ("providers.openai.base_url", "http://h:1/v1", lambda c: c.providers["openai"].base_url == "http://h:1/v1"),
        (
            'permissions.rules.bash."git push*"',
            "ask",
            lambda c: c.permissions.rules == {"bash": {"git push*": "ask"}},
        ),
        (
            "permissions.rules.write_file",
            '{ "src/**" = "allow" }',
            lambda c: c.permissions.rules == {"write_file": {"src/**": "allow"}},
        ),
        ("secrets.cache_ttl", "0", lambda c: c.secrets.cache_ttl == 0.0),
    ],
)
def test_set_config_value_creates_what_is_missing(tmp_path: Path, key: str, value: str, check: Any) -> None:
    path = tmp_path / "sub" / "config.toml"
    loaded = set_config_value(path, key, value)
    assert check(loaded.config)
    assert check(load_config(path).config)
    assert load_config(path).warnings == []


def test_set_config_value_into_existing_sections(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(FULL)
    set_config_value(path, "providers.openai.context_window", "64000")
    set_config_value(path, 'permissions.rules.bash."ls *"', "allow")
    c = load_config(path).config
    assert c.providers["openai"].context_window == 64000
    assert c.permissions.rules["bash"] == {"git push*": "ask", "rm -rf *": "deny", "ls *": "allow"}
    assert path.read_text().startswith("# everything, set to something other than its default\n")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("session.max_steps", "lots", r"config\.toml:4: session\.max_steps: Expected `int`, got `str`"),
        ("session.max_steps", "0", r"session\.max_steps: Expected `int` >= 1"),
        ("permissions.mode", "yolo", r"permissions\.mode: Invalid enum value 'yolo'"),
        ("session.max_stepz", "3", r"unknown key 'session\.max_stepz'"),
        ("session.max_steps.deeper", "3", r"unknown key"),
        ("session..x", "3", r"invalid key"),
    ],
)
def test_set_config_value_refuses_and_leaves_file_byte_identical(
    tmp_path: Path, key: str, value: str, match: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(COMMENTED)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=match):
        set_config_value(path, key, value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]  # no temp file left


def test_set_config_value_through_inline_tables_and_non_tables(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[providers]\nopenai = { model = "m" }\n')
    set_config_value(path, "providers.openai.region", "x")  # inline tables are tables too
    assert load_config(path).config.providers["openai"] == ProviderSection(model="m", region="x")
    path.write_text("session = 3\n")
    with pytest.raises(ConfigError, match="session is not a table"):
        set_config_value(path, "session.max_steps", "3")
    assert path.read_text() == "session = 3\n"


def test_set_config_value_keeps_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(COMMENTED)
    path.chmod(0o640)
    set_config_value(path, "session.auto_save", "false")
    assert path.stat().st_mode & 0o777 == 0o640


def test_importing_config_and_secrets_stays_light() -> None:
    """hvac, requests, watchfiles and tomlkit load only when first used (idle daemon memory)."""
    code = (
        "import sys, codetether.daemon.core.config, codetether.daemon.core.secrets._vault;"
        "print(sorted(m for m in ('hvac', 'requests', 'watchfiles', 'tomlkit') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

