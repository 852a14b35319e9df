"""Pure LSP conversions and options, without a server."""

from codetether.lsp.convert import changed_range, file_edit, parse_review, status_text
from codetether.lsp.options import Options, parse_options
from lsprotocol import types as t


def test_file_edit_replaces_only_the_changed_lines():
    before = "a\nb\nc\nd\n"
    after = "a\nB\nB2\nc\nd\n"
    (change,) = file_edit({"path": "/w/x.py", "before": before, "after": after}, version=7)
    assert change.text_document.version == 7 and change.text_document.uri == "file:///w/x.py"
    (edit,) = change.edits
    assert (edit.range.start.line, edit.range.end.line, edit.new_text) == (1, 2, "B\nB2\n")
    assert changed_range(before, after) == t.Range(t.Position(1, 0), t.Position(2, 0))


def test_file_edit_creates_and_deletes():
    create = file_edit({"path": "/w/new.py", "before": None, "after": "x\n"}, None)
    assert isinstance(create[0], t.CreateFile) and create[1].edits[0].new_text == "x\n"
    (delete,) = file_edit({"path": "/w/old.py", "before": "x\n", "after": None}, None)
    assert isinstance(delete, t.DeleteFile)


def test_review_lines_become_diagnostics_and_the_rest_is_ignored():
    found = parse_review("Summary first\n3: error: boom\n- line 9: hint: nit\nnone", line_count=5)
    assert [(d.range.start.line, d.severity, d.message) for d in found] == [
        (2, t.DiagnosticSeverity.Error, "boom"), (4, t.DiagnosticSeverity.Hint, "nit")]


def test_options_default_and_bad_input_falls_back_with_a_message():
    assert parse_options(None) == (Options(), None)
    opts, warning = parse_options({"approvalMode": "auto", "codetetherHome": "/tmp/x"})
    assert (opts.approval_mode, opts.codetether_home, warning) == ("auto", "/tmp/x", None)
    opts, warning = parse_options({"approvalMode": "sometimes"})
    assert opts == Options() and "approvalMode" in warning
    opts, warning = parse_options({"bogus": 1})
    assert opts == Options() and "bogus" in warning


def test_status_text():
    text = status_text({"input_tokens": 1000, "output_tokens": 200, "cost": "$0.01",
                        "context": {"percent": 12.3, "level": "OK"}})
    assert text == "ct 1.2k tok $0.01 ctx 12% OK"
