"""Loading, validating and editing ``config.toml`` (see :mod:`.config`)."""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ...errors import ConfigError
from ..storage import atomic_write
from ._locate import format_key, key_lines, line_of, parse_key
from ._schema import Config, KeyPath, is_known_key, unknown_keys

__all__ = [
    "LoadedConfig",
    "config_as_dict",
    "load_config",
    "load_config_bytes",
    "parse_config",
    "read_config_bytes",
    "set_config_value",
]


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated configuration and the warnings (unknown keys) found on the way."""

    config: Config
    warnings: list[str] = field(default_factory=list)


def load_config(path: Path) -> LoadedConfig:
    """Load and validate ``path``; a missing file gives the defaults.

    Raises :class:`ConfigError` (naming file, line and key) for invalid TOML or a bad value.
    """
    return load_config_bytes(read_config_bytes(path), path)


def read_config_bytes(path: Path) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def load_config_bytes(data: bytes | None, path: Path) -> LoadedConfig:
    """Validate the bytes read from ``path`` (None: the file is missing -> defaults)."""
    if data is None:
        return LoadedConfig(Config())
    return parse_config(_decode(data, path), source=str(path))


def parse_config(text: str, *, source: str = "config.toml") -> LoadedConfig:
    """Validate TOML ``text``; ``source`` is the file name used in messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_error_message(exc, text, source)) from exc
    lines = key_lines(text)
    warnings = [_unknown_key_warning(key, lines, source) for key in unknown_keys(raw)]
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(_validation_message(exc, raw, lines, source)) from exc
    return LoadedConfig(config, warnings)


def config_as_dict(config: Config) -> dict[str, Any]:
    """The configuration as plain data for ``config --show`` (unset optional values omitted)."""
    data: dict[str, Any] = _drop_none(msgspec.to_builtins(config))
    return data


def set_config_value(path: Path, key: str, value: str,
                     check: Callable[[Config], object] | None = None) -> LoadedConfig:
    """Set dotted ``key`` to ``value`` in the file at ``path`` and return the new config.

    ``value`` is read as a TOML literal when it is one (``30``, ``true``, ``"x"``,
    ``["a"]``, ``{ "git push*" = "ask" }``), otherwise as a plain string. Comments and
    layout are kept (tomlkit). The result is validated before anything is written;
    an unknown key or an invalid result raises :class:`ConfigError` and leaves the
    file untouched, and so does a :class:`ConfigError` from ``check(new_config)``.
    The write is atomic (temp file + ``os.replace``).
    """
    import tomlkit  # deferred: only `config set` needs it
    from tomlkit.exceptions import ParseError as TomlkitParseError

    try:
        parts = parse_key(key)
    except ValueError as exc:
        raise ConfigError(f"{path}: invalid key {key!r}") from exc
    if not is_known_key(parts):
        raise ConfigError(f"{path}: unknown key {format_key(parts)!r}; nothing written")
    try:
        old_text = _decode(path.read_bytes(), path)
    except FileNotFoundError:
        old_text = ""
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        doc = tomlkit.parse(old_text)
    except TomlkitParseError as exc:
        raise ConfigError(f"{path}:{exc.line}: invalid TOML: {exc}; nothing written") from exc
    new_value = _parse_literal(value)
    if parts[:2] == ("permissions", "rules") and isinstance(new_value, dict):
        new_value = _merged_rules(doc, parts, new_value)
    _assign(doc, parts, _to_item(new_value), path)
    new_text = tomlkit.dumps(doc)
    try:
        loaded = parse_config(new_text, source=str(path))
        if check is not None:
            check(loaded.config)
    except ConfigError as exc:
        raise ConfigError(f"{exc.message} (not written; {path} is unchanged)") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, new_text.encode(), None if path.exists() else 0o600)
    return loaded


# --- messages --------------------------------------------------------------------------

_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_END = re.compile(r"\s*\(at end of document\)$")


def _toml_error_message(exc: tomllib.TOMLDecodeError, text: str, source: str) -> str:
    msg = str(exc)
    if m := _TOML_POS.search(msg):
        return f"{source}:{m.group(1)}: invalid TOML: {msg[: m.start()]} (column {m.group(2)})"
    if m := _TOML_END.search(msg):
        return f"{source}:{text.count(chr(10)) + 1}: invalid TOML: {msg[: m.start()]} (at end of file)"
    return f"{source}: invalid TOML: {msg}"


def _where(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line is not None else source


def _unknown_key_warning(path: KeyPath, lines: dict[KeyPath, int], source: str) -> str:
    text = f"{_where(source, line_of(lines, path))}: unknown key {format_key(path)!r}"
    if path[:1] == ("providers",) and path[-1] in ("api_key", "token", "secret"):
        text += " (keys belong in Vault, not in config.toml)"
    return text


# msgspec: "Expected `int`, got `str` - at `$.session.max_steps`"; map entries show as [...].
_AT = re.compile(r" - at `\$(.*)`$")
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[(\.\.\.)\]")
_ANY = object()


def _validation_message(
    exc: msgspec.ValidationError, raw: dict[str, Any], lines: dict[KeyPath, int], source: str
) -> str:
    msg = str(exc)
    m = _AT.search(msg)
    if not m:
        return f"{source}: {msg}"
    segments: list[object] = []
    for seg in _SEGMENT.finditer(m.group(1)):
        name, index, _ = seg.groups()
        segments.append(name if name is not None else int(index) if index is not None else _ANY)
    path = _resolve_path(raw, segments)
    return f"{_where(source, line_of(lines, path))}: {format_key(path)}: {msg[: m.start()]}"


def _resolve_path(raw: dict[str, Any], segments: list[object]) -> KeyPath:
    """Turn msgspec's path into a concrete key path.

    msgspec reports map entries as ``[...]``; the culprit entry is found by
    validating the document with that map cut down to one entry at a time.
    """
    path: list[str | int] = []
    node: Any = raw
    for seg in segments:
        if seg is _ANY:
            if not isinstance(node, dict) or not node:
                break
            seg = _culprit(raw, tuple(path), node)
        assert isinstance(seg, (str, int))
        path.append(seg)
        try:
            node = node[seg]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(path)


def _culprit(raw: dict[str, Any], at: KeyPath, entries: dict[str, Any]) -> str:
    for key in entries:
        trial = _replace_at(raw, at, {key: entries[key]})
        try:
            msgspec.convert(trial, Config)
        except msgspec.ValidationError:
            return key
    return next(iter(entries))


def _replace_at(node: Any, at: KeyPath, new: Any) -> Any:
    if not at:
        return new
    copied = copy.copy(node)
    copied[at[0]] = _replace_at(node[at[0]], at[1:], new)
    return copied


# --- editing ---------------------------------------------------------------------------


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8") from exc


def _parse_literal(value: str) -> Any:
    try:
        doc = tomllib.loads(f"v = {value}")
    except tomllib.TOMLDecodeError:
        return value
    # "1\nother = 2" parses too; only a single literal counts as one.
    return doc["v"] if doc.keys() == {"v"} else value


def _to_item(value: Any) -> Any:
    """Tables given on the command line stay inline where they are written."""
    import tomlkit

    if isinstance(value, dict):
        table = tomlkit.inline_table()
        for k, v in value.items():
            table[k] = _to_item(v)
        return table
    if isinstance(value, list):
        return [_to_item(v) for v in value]
    return value


def _merged_rules(doc: Mapping[str, Any], parts: tuple[str, ...], new: dict[str, Any]) -> dict[str, Any]:
    """C17: rules given for ``permissions.rules[.TOOL]`` join the file's own rules (a pattern
    given again takes the new action) instead of replacing them: adding an allow rule must
    never drop a deny rule. Merged in the same read-modify-write as the set itself."""
    current: Any = doc
    for part in parts:
        current = current.get(part) if isinstance(current, Mapping) else None
    if not isinstance(current, Mapping):
        return new
    old = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in current.unwrap().items()} \
        if hasattr(current, "unwrap") else dict(current)
    if len(parts) == 2:  # the whole rules table: merge per tool
        for tool, rules in new.items():
            old[tool] = {**old[tool], **rules} if isinstance(old.get(tool), dict) and isinstance(
                rules, dict) else rules
        return old
    return {**old, **new}


def _assign(doc: MutableMapping[str, Any], parts: tuple[str, ...], value: Any, path: Path) -> None:
    import tomlkit

    container: MutableMapping[str, Any] = doc
    for depth, part in enumerate(parts[:-1]):
        if part not in container:
            # Only the leaf's own table gets a header: no empty [providers] above [providers.x].
            container[part] = tomlkit.table(is_super_table=depth < len(parts) - 2)
        child = container[part]
        # Every tomlkit table (document, table, inline table, out-of-order proxy) is mutable.
        if not isinstance(child, MutableMapping):
            where = format_key(parts[: depth + 1])
            raise ConfigError(f"{path}: {where} is not a table; cannot set {format_key(parts)}")
        container = child
    container[parts[-1]] = value


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_drop_none(v) for v in value]
    return value

