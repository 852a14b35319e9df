"""The tool contract: schemas, argument validation, the registry, confinement."""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec
import pytest
from codetether.daemon.core import tools
from codetether.daemon.core.tools import Tool, ToolRegistry, Workspace, default_registry
from codetether.daemon.errors import InvalidParams, ToolFailure, WorkspaceEscape

EXPECTED = {
    "a2a_delegate", "apply_patch", "bash", "batch", "codesearch", "edit", "glob", "grep", "list_dir",
    "multiedit", "plan_enter", "plan_exit", "question", "read_file", "todo_read",
    "task", "todo_write", "webfetch", "websearch", "write_file",
}
READ_ONLY = {"todo_write", 
    "read_file", "glob", "list_dir", "grep", "codesearch", "todo_read", "question",
    "plan_enter", "plan_exit", "batch", "task",
}


def test_all_is_sorted_and_complete() -> None:
    assert tools.__all__ == sorted(tools.__all__)
    for name in tools.__all__:
        assert hasattr(tools, name)


def test_default_registry_has_every_builtin_tool() -> None:
    registry = default_registry()
    assert set(registry.names()) == EXPECTED
    assert len(registry) == len(EXPECTED)
    assert "edit" in registry and "nope" not in registry
    assert [t.name for t in registry] == sorted(EXPECTED)


def test_read_only_flags() -> None:
    flags = {tool.name: tool.read_only for tool in default_registry()}
    assert {name for name, ro in flags.items() if ro} == READ_ONLY


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_schema_is_a_self_contained_object_schema(name: str) -> None:
    tool = default_registry().get(name)
    assert tool is not None
    schema = tool.schema()
    assert schema["type"] == "object"
    assert isinstance(schema["properties"], dict)
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text
    assert json.loads(text) == schema
    for prop, spec in schema["properties"].items():
        assert spec.get("description"), f"{name}.{prop} has no description"
    assert set(schema.get("required", [])) <= set(schema["properties"])
    assert len(tool.description) > 40
    _check_schema_node(schema, name)


_TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}
_KEYWORDS = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "anyOf",
    "description", "default", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems",
}


def _check_schema_node(node: object, where: str) -> None:
    """A structural JSON Schema check: known keywords, valid types, well-formed children."""
    assert isinstance(node, dict), where
    assert set(node) <= _KEYWORDS, f"{where}: unexpected keywords {set(node) - _KEYWORDS}"
    if "anyOf" in node:
        for index, option in enumerate(node["anyOf"]):
            _check_schema_node(option, f"{where}|{index}")
        return
    assert node.get("type") in _TYPES, f"{where}: type {node.get('type')!r}"
    if node["type"] == "object":
        for key, child in node.get("properties", {}).items():
            _check_schema_node(child, f"{where}.{key}")
        assert isinstance(node.get("required", []), list)
    if node["type"] == "array":
        _check_schema_node(node["items"], f"{where}[]")
    if "enum" in node:
        assert node["enum"] and all(isinstance(v, str) for v in node["enum"])


def test_enum_properties_carry_a_type() -> None:
    tool = default_registry().get("grep")
    assert tool is not None
    schema = tool.schema()
    assert schema["properties"]["output"] == {**schema["properties"]["output"], "type": "string"}


def test_malformed_json_arguments_are_invalid_params() -> None:
    tool = default_registry().get("read_file")
    assert tool is not None
    with pytest.raises(InvalidParams) as info:
        tool.parse('{"path": "a.txt"')
    message = info.value.message
    assert "read_file" in message and "not valid JSON" in message and '{"path": "a.txt"' in message


def test_wrong_types_and_missing_fields_name_the_field() -> None:
    tool = default_registry().get("read_file")
    assert tool is not None
    with pytest.raises(InvalidParams, match=r"read_file: invalid arguments: .*`\$.offset`"):
        tool.parse('{"path": "a", "offset": "ten"}')
    with pytest.raises(InvalidParams, match="missing required field `path`"):
        tool.parse("{}")
    with pytest.raises(InvalidParams, match="unknown field `file`"):
        tool.parse({"path": "a", "file": "b"})
    with pytest.raises(InvalidParams, match=">= 1"):
        tool.parse({"path": "a", "offset": 0})
    with pytest.raises(InvalidParams, match="Expected `object`"):
        tool.parse("[1, 2]")


def test_empty_arguments_mean_an_empty_object() -> None:
    tool = default_registry().get("todo_read")
    assert tool is not None
    assert isinstance(tool.parse(""), msgspec.Struct)
    assert isinstance(tool.parse(b""), msgspec.Struct)


def test_registry_refuses_duplicates() -> None:
    registry = default_registry()
    tool = registry.get("edit")
    assert isinstance(tool, Tool)
    with pytest.raises(ValueError, match="twice"):
        ToolRegistry([tool, tool])


def test_workspace_resolve(tool_root: Path, outside: Path) -> None:
    ws = Workspace(tool_root)
    assert ws.resolve("a/b.txt") == tool_root / "a" / "b.txt"
    assert ws.resolve(str(tool_root / "x")) == tool_root / "x"
    assert ws.resolve(".") == tool_root
    with pytest.raises(WorkspaceEscape):
        ws.resolve("../outside/secret.txt")
    with pytest.raises(WorkspaceEscape):
        ws.resolve("a/../../outside")
    with pytest.raises(WorkspaceEscape):
        ws.resolve(str(outside / "secret.txt"))
    os.symlink(outside, tool_root / "link")
    with pytest.raises(WorkspaceEscape):
        ws.resolve("link/secret.txt")
    os.symlink(outside / "new.txt", tool_root / "dangling")
    with pytest.raises(WorkspaceEscape):
        ws.resolve("dangling")
    with pytest.raises(InvalidParams):
        ws.resolve("")
    with pytest.raises(InvalidParams, match="NUL"):
        ws.resolve("a\x00b")
    with pytest.raises(ToolFailure, match="no such file"):
        ws.resolve("missing", must_exist=True)


def test_schema_keeps_fields_named_like_keywords() -> None:
    class Params(msgspec.Struct):
        """Doc."""

        title: str
        type: str = "x"

    class Titled(Tool):
        name = "titled"
        description = "a tool whose fields are called title and type"
        params = Params

    schema = Titled().schema()
    assert set(schema["properties"]) == {"title", "type"}
    assert "title" not in schema and "description" not in schema


def test_describe_is_one_short_line_for_progress() -> None:  # C15
    registry = default_registry()
    bash, read = registry.get("bash"), registry.get("read_file")
    assert bash is not None and read is not None
    assert bash.describe(bash.parse({"command": "make test", "description": "run the tests"})) == (
        "bash: run the tests")
    long = bash.describe(bash.parse({"command": "echo " + "x" * 200 + "\nls"}))
    assert "\n" not in long and len(long) <= 65 and long.endswith("\u2026")
    assert read.describe(read.parse({"path": "src/a.py"})) == "read_file src/a.py"
