"""Slash commands: the table (name, argument, help), parsing, and input completion."""

from __future__ import annotations

import asyncio
import os

from textual.suggester import Suggester

__all__ = ["COMMANDS", "KEYS", "SlashSuggester", "complete_path", "parse_slash"]

#: name -> (argument hint, what it does). Shown by /help and completed in the input.
COMMANDS: dict[str, tuple[str, str]] = {
    "go": ("TASK", "draft an objective for TASK, approve it (A) or deny it (D), then run it"),
    "swarm": ("TASK", "split TASK among sub-agents; shows stages and each subtask"),
    "autochat": ("[N] TASK", "a relay of N specialists passing a baton"),
    "ralph": ("[PRD]", "run the PRD loop on prd.json (or PRD); a view of each story and its checks"),
    "model": ("[ID]", "pick the model (also Ctrl+O or F2)"),
    "sessions": ("", "pick a session: search, resume, fork, delete"),
    "resume": ("[ID]", "attach to a session (default: the latest here) and run what it left"),
    "new": ("", "start a new session"),
    "plan": ("", "toggle plan mode: read-only tools for the next prompts"),
    "cancel": ("", "cancel the running prompt (also Ctrl+C)"),
    "compact": ("", "fold the conversation's older messages into a summary now"),
    "theme": ("NAME", "switch theme: marketing, dark, light, solarized-dark, solarized-light"),
    "help": ("", "this help (also ? or F1)"),
}

#: Keys, for /help.
KEYS: tuple[tuple[str, str], ...] = (
    ("Enter", "send the prompt or command"),
    ("Ctrl+C", "cancel the run; again to quit"),
    ("Ctrl+Q", "quit (runs started elsewhere go on; a run started here is cancelled)"),
    ("Ctrl+O / F2", "model selector (Ctrl+M is Enter in terminals)"),
    ("a / d / A", "allow / deny the tool call waiting for approval; A: always allow it (a rule)"),
    ("A / D", "approve / deny a /go objective"),
    ("Tab / →", "accept the completion (commands, their arguments, @paths)"),
)


def parse_slash(text: str) -> tuple[str, str] | None:
    """``/name rest`` -> (name, rest) for a known command; None for a prompt.

    ``/go`` is a command too, but its text goes to the daemon whole (the daemon runs it)."""
    text = text.strip()
    if text == "?":
        return "help", ""
    if not text.startswith("/"):
        return None
    name, _, rest = text[1:].partition(" ")
    if name not in COMMANDS:
        return None
    return name, rest.strip()


def complete_path(root: str, partial: str) -> str | None:
    """The first entry of the workspace ``root`` that completes ``partial`` (a folder gets
    a ``/``); hidden entries only when asked for with a dot; never outside ``root``."""
    folder, _, stem = partial.rpartition("/")
    if ".." in folder.split("/") or partial.startswith("/"):
        return None
    try:
        names = sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(os.path.join(root, folder))
                       if e.name.startswith(stem) and (stem.startswith(".") or not e.name.startswith(".")))
    except OSError:
        return None
    found = next((n for n in names if n.rstrip("/") != stem or n.endswith("/")), None)
    if found is None or (folder + "/" if folder else "") + found == partial:
        return None
    return (folder + "/" if folder else "") + found


class SlashSuggester(Suggester):
    """Completes ``/commands``, then their arguments from :attr:`arguments` (theme names,
    model ids: the app fills them in as it learns them), and ``@paths`` in the workspace."""

    def __init__(self, workspace: str | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.arguments: dict[str, list[str]] = {}
        self.workspace = workspace

    async def get_suggestion(self, value: str) -> str | None:
        word = value.rsplit(" ", 1)[-1]
        if word.startswith("@") and self.workspace:
            done = await asyncio.to_thread(complete_path, self.workspace, word[1:])
            return value[: len(value) - len(word)] + "@" + done if done else None
        if not value.startswith("/"):
            return None
        name, space, rest = value[1:].partition(" ")
        if not space:
            return next((f"/{c}" for c in COMMANDS if c.startswith(name) and c != name), None)
        return next((f"/{name} {a}" for a in self.arguments.get(name, [])
                     if a.startswith(rest) and a != rest), None)
