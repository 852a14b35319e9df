"""The simple commands inside a shell command line, for approval rules.

``bash = { "rm*" = "deny" }`` must catch ``echo ok; rm -f x``, ``  rm x``,
``FOO=1 sudo rm x``, ``(cd d && rm x)``, ``echo $(rm x)`` and ``sh -c 'rm x'``: rules
judge the whole line and each simple command in it, and the strictest decision wins.
This is a best-effort reading of shell syntax for rules, not a sandbox: what it cannot
split (an unbalanced quote) falls back to a plain split on the control characters.
"""

from __future__ import annotations

import re
import shlex

__all__ = ["command_segments"]

_CONTROL = {";", "&&", "||", "|", "&", "|&", "(", ")", "{", "}", ";;", "!"}
_WRAPPERS = {"sudo", "env", "nohup", "time", "command", "exec", "nice", "xargs", "doas", "builtin",
             "stdbuf", "timeout", "unbuffer"}
_SHELLS = {"sh", "bash", "zsh", "dash", "ksh"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)|`([^`]*)`|<\(([^()]*)\)|>\(([^()]*)\)")
_MAX_DEPTH = 4


def command_segments(command: str, _depth: int = 0) -> list[str]:
    """Each simple command in ``command``, leading assignments and wrappers removed."""
    if _depth > _MAX_DEPTH:
        return []
    out: list[str] = []
    for inner in _SUBSTITUTION.findall(command):
        for part in inner:
            if part:
                out += command_segments(part, _depth + 1)
    text = command.replace("\n", " ; ")
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: split on control characters instead
        return out + [s.strip() for s in re.split(r"[;&|\n()]+", command) if s.strip()]
    segment: list[str] = []
    for token in [*tokens, ";"]:
        if token in _CONTROL or set(token) <= set(";&|()"):
            out += _simple(segment, _depth)
            segment = []
        else:
            segment.append(token)
    return list(dict.fromkeys(s for s in out if s))


def _simple(tokens: list[str], depth: int) -> list[str]:
    """``tokens`` of one simple command, as rules see it: ``rm -f x``."""
    words = list(tokens)
    while words and (_ASSIGNMENT.match(words[0]) or words[0] in _WRAPPERS or
                     (words[0].startswith("-") and len(words) > 1)):
        words.pop(0)  # FOO=1, sudo, env, their flags: what runs is what follows
    if not words:
        return []
    if words[0].rsplit("/", 1)[-1] in _SHELLS and "-c" in words[1:-1]:
        script = words[words.index("-c", 1) + 1]
        return [" ".join(words), *command_segments(script, depth + 1)]
    return [" ".join(words)]
