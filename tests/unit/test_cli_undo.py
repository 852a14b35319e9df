"""Undo's parts: reversing a tool's recorded diff (exactly, or a conflict), and the CLI's
parser and rendering."""

from __future__ import annotations

import random

import pytest
from codetether.daemon.api._reverse import reverse_change
from codetether.daemon.cli.args import build_parser
from codetether.daemon.cli.undo import render
from codetether.daemon.core.tools._util import unified_diff


def _text(rng: random.Random) -> str:
    text = "".join(rng.choice(["a\n", "b\n", "c\n", "dd\n", "\n"]) for _ in range(rng.randint(0, 14)))
    return text.rstrip("\n") if rng.random() < 0.3 else text


def test_reversing_the_tools_diff_gives_back_the_file_before_it():
    rng = random.Random(12)
    for _ in range(2000):
        before, after = _text(rng), _text(rng)
        if before == after:
            continue
        outcome = reverse_change("modify", unified_diff("f", before, after), after)
        assert (outcome.status, outcome.content) == ("restored", before), (before, after)


def test_a_file_changed_since_is_a_conflict_showing_both_sides():
    before = "one\ntwo\nthree\nfour\nfive\n"
    after = before.replace("three", "THREE")
    diff = unified_diff("f", before, after)
    outcome = reverse_change("modify", diff, after.replace("two", "2"))
    assert outcome.status == "conflict" and "| two" in outcome.detail and "| 2" in outcome.detail
    assert reverse_change("modify", diff, before).status == "already"
    assert reverse_change("modify", diff, None).status == "conflict"
    cut = diff + "\n[diff truncated]\n"
    assert "cut short" in reverse_change("modify", cut, after).detail


def test_created_and_deleted_files():
    made = unified_diff("f", None, "x\ny")
    assert reverse_change("create", made, "x\ny").status == "restored"
    assert reverse_change("create", made, "x\ny").content is None
    assert reverse_change("create", made, None).status == "already"
    assert reverse_change("create", made, "x\nz").status == "conflict"
    gone = unified_diff("f", "keep me\n", None)
    assert (reverse_change("delete", gone, None).content) == "keep me\n"
    assert reverse_change("delete", gone, "keep me\n").status == "already"
    assert reverse_change("delete", gone, "other\n").status == "conflict"


def test_undo_parser_and_render(capsys):
    args = build_parser(["undo"]).parse_args(["undo", "S1", "--to", "0", "-n"])
    assert (args.session, args.to, args.dry_run) == ("S1", 0, True)
    with pytest.raises(SystemExit):
        build_parser(["undo"]).parse_args(["undo", "--to", "-1"])
    result = {"session_id": "S1", "workspace": "/w", "applied": False, "changes": [
        {"number": 2, "path": "a.py", "kind": "modify", "tool": "edit", "status": "conflict",
         "detail": "at line 3 expected:\n    | x\n  found:\n    | y"},
        {"number": 3, "path": "b.py", "kind": "create", "tool": "write_file", "status": "restored", "detail": ""}]}
    text = render(result, dry_run=False)
    assert "#2   modify a.py  (edit): CONFLICT" in text and "| y" in text
    assert "#3   create b.py  (write_file): would restore" in text and "nothing was changed: 1" in text


@pytest.mark.parametrize(("before", "why"), [
    ("KEY=[REDACTED]\nX=1\n", "secret"),  # what the recorder kept of a key it knows
    ("caf\ufffd\nkeep\n", "UTF-8"),  # what it kept of bytes that were not UTF-8
])
def test_undo_never_writes_back_a_placeholder_for_the_users_text(before, why):
    after = "X=1\n" if why == "secret" else "keep\n"
    for kind, current in (("modify", after), ("delete", None)):
        diff = unified_diff("f", before, after if kind == "modify" else None)
        out = reverse_change(kind, diff, current)
        assert out.status == "conflict" and why in out.detail, (kind, out)
