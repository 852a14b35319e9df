"""``codetether sessions export ID [--out FILE]`` and ``sessions import FILE``: a session as
one JSON file (its metadata and transcript), every secret the daemon knows redacted.

An import makes a new session (a new id) in the exported session's workspace, or in
``--workspace DIR``; ``-`` reads the file from stdin / writes it to stdout.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..client import Client

__all__ = ["cmd_export", "cmd_import"]


def cmd_export(client: Client, args: Any) -> int:
    """Write the exported document to ``--out`` (default stdout)."""
    document = client.call("session/export", {"session_id": args.id})
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if not args.out or args.out == "-":
        sys.stdout.write(text)
        return 0
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # a transcript is private
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    messages = len([r for r in document.get("transcript", []) if r.get("type") == "message"])
    summary = {"session_id": args.id, "out": os.path.abspath(args.out), "messages": messages}
    print(json.dumps(summary) if args.json else f"exported {args.id} ({messages} messages) to {args.out}")
    return 0


def cmd_import(client: Client, args: Any) -> int:
    """Read an exported document and make a new session of it."""
    from ..errors import InvalidParams

    try:
        if args.file == "-":
            raw = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as fh:
                raw = fh.read()
    except OSError as exc:
        raise InvalidParams(f"cannot read {args.file}: {exc.strerror or exc}") from None
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise InvalidParams(f"{args.file} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidParams(f"{args.file} is not an exported session (not a JSON object)")
    params: dict[str, Any] = {"document": document}
    if args.workspace:
        params["workspace"] = os.path.abspath(args.workspace)
    info = client.call("session/import", params)
    print(json.dumps(info, indent=2) if args.json else
          f"imported {args.file} as {info['id']} ({info['message_count']} messages, workspace {info['workspace']})")
    return 0
