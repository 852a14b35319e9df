"""Approval policy: per tool, a table of glob patterns to actions, evaluated deny > ask >
allow over every rule that matches (the tool's own rules and the ``"*"`` rules).

With no matching rule, read-only tools are allowed and the rest ask. The mode then
adjusts: ``auto`` turns ask into allow, ``plan`` denies anything that is not read-only.
Deny always stays deny. A call with several subjects (a patch or a multiedit touching
several files) gets the strictest decision over all of them.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Literal

__all__ = ["Action", "PolicyDecision", "evaluate_policies", "evaluate_policy"]

#: What a rule (or the default) says about a call.
Action = Literal["allow", "ask", "deny"]
_RANK = {"allow": 0, "ask": 1, "deny": 2}
# A rule's action as the Literal it is (config validated it): an unknown one is a KeyError
# here exactly as in _RANK.
_ACTION: dict[str, Action] = {"allow": "allow", "ask": "ask", "deny": "deny"}


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """What the policy decided about one call, and which rule decided it."""

    action: Action
    rule: str  # which rule decided, for the receipt ("default", "bash:git push*", "mode:plan")


def evaluate_policy(tool: str, subject: str, *, read_only: bool, mode: str,
                    rules: dict[str, dict[str, str]]) -> PolicyDecision:
    """The decision for ``tool`` on one ``subject`` (a path, a command) under ``rules``
    and ``mode`` (see the module docstring)."""
    best: PolicyDecision | None = None
    for table_name in (tool, "*"):
        for pattern, action in (rules.get(table_name) or {}).items():
            if fnmatch.fnmatchcase(subject, pattern):
                if best is None or _RANK[action] > _RANK[best.action]:
                    best = PolicyDecision(_ACTION[action], f"{table_name}:{pattern}")
    if best is None:
        best = PolicyDecision("allow" if read_only else "ask", "default")
    if best.action == "deny":
        return best
    if mode == "plan" and not read_only:
        return PolicyDecision("deny", "mode:plan")
    if mode == "auto" and best.action == "ask" and best.rule == "default":
        # Auto mode answers the default "ask" for the user; a rule that says "ask" was
        # written to be asked, and still is.
        return PolicyDecision("allow", f"mode:auto ({best.rule})")
    return best


def evaluate_policies(tool: str, subjects: list[str], *, read_only: bool, mode: str,
                      rules: dict[str, dict[str, str]]) -> PolicyDecision:
    """The strictest decision over ``subjects`` (deny > ask > allow; the first wins a
    tie, so the receipt names the subject that decided). No subjects: judged as ""."""
    strictest: PolicyDecision | None = None
    for subject in subjects or [""]:
        decision = evaluate_policy(tool, subject, read_only=read_only, mode=mode, rules=rules)
        if strictest is None or _RANK[decision.action] > _RANK[strictest.action]:
            strictest = decision
    assert strictest is not None
    return strictest
