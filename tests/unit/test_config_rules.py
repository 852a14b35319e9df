"""C17: rules set through config/set join the rules already in the file."""

from __future__ import annotations


def test_C17_rules_set_are_merged_into_the_files_rules(tmp_path):
    from codetether.daemon.core.config import set_config_value

    path = tmp_path / "config.toml"
    path.write_text('[permissions.rules]\nbash = { "rm -rf*" = "deny" }\nwrite_file = { "src/**" = "allow" }\n')
    loaded = set_config_value(path, "permissions.rules.bash", '{ "git push*" = "ask" }')
    assert loaded.config.permissions.rules["bash"] == {"rm -rf*": "deny", "git push*": "ask"}
    loaded = set_config_value(path, "permissions.rules", '{ bash = { "rm -rf*" = "ask" }, grep = { "*" = "allow" } }')
    rules = loaded.config.permissions.rules
    assert rules["bash"] == {"rm -rf*": "ask", "git push*": "ask"}  # a pattern given again is replaced
    assert rules["write_file"] == {"src/**": "allow"} and rules["grep"] == {"*": "allow"}
    from codetether.daemon.core.config import load_config

    assert loaded.config == load_config(path).config  # what was written is what was returned
