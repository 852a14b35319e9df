import inspect

import pytest
from codetether.daemon import errors


def _error_classes():
    return [obj for _, obj in inspect.getmembers(errors, inspect.isclass)
            if issubclass(obj, errors.CodetetherError)]


def test_every_error_class_is_in_the_table_and_exported():
    for cls in _error_classes():
        assert cls in errors.ERROR_TABLE, cls
        assert cls.__name__ in errors.__all__


def test_all_is_sorted():
    assert errors.__all__ == sorted(errors.__all__)


@pytest.mark.parametrize("cls", _error_classes())
def test_wire_round_trip_keeps_code_message_and_data(cls):
    err = cls("boom", data={"k": 1})
    back = errors.from_wire(err.to_wire())
    assert back.codes.jsonrpc == cls("x").codes.jsonrpc
    assert back.message == "boom"
    assert back.data == {"k": 1}
    assert isinstance(back, errors.CodetetherError)


def test_subclass_inherits_its_parents_codes_unless_listed():
    class Custom(errors.ToolFailure):
        pass

    assert Custom("x").codes == errors.ERROR_TABLE[errors.ToolFailure]
    assert errors.WorkspaceEscape("x").codes.http == 403


def test_cli_import_path_stays_light():
    """The CLI must start nearly as fast as the interpreter: no heavy modules."""
    import subprocess
    import sys

    code = ("import sys; import codetether.daemon.cli.main, codetether.daemon.cli.args; "
            "print(','.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.strip().split(","))
    heavy = {"typing", "socket", "asyncio", "msgspec", "dataclasses", "subprocess", "platformdirs",
             "codetether.daemon.core", "codetether.daemon.rpc", "httpx", "hvac"}
    assert not heavy & loaded, heavy & loaded


def test_codes_do_not_collide_with_a2a_or_lsp_and_reasons_are_unique():
    # An a2a-sdk peer must never read a codetether error as one of A2A's (issue 8), and the
    # LSP client libraries give -32002/-32001 meanings of their own.
    a2a = {errors.TaskNotFound: -32001, errors.TaskNotCancelable: -32002,
           errors.PushNotificationNotSupported: -32003, errors.UnsupportedOperation: -32004,
           errors.ContentTypeNotSupported: -32005, errors.InvalidAgentResponse: -32006,
           errors.ExtendedAgentCardNotConfigured: -32007, errors.ExtensionSupportRequired: -32008,
           errors.VersionNotSupported: -32009}
    jsonrpc = {errors.CodetetherError, errors.ParseError, errors.InvalidRequest, errors.MessageTooLarge,
               errors.MethodNotFound, errors.InvalidParams, errors.RequestCancelled}
    for cls, codes in errors.ERROR_TABLE.items():
        if cls in a2a:
            assert codes.jsonrpc == a2a[cls], cls
        elif cls not in jsonrpc:
            assert not -32768 <= codes.jsonrpc <= -32000, (cls, codes.jsonrpc)
    reasons = [codes.reason for codes in errors.ERROR_TABLE.values()]
    assert len(reasons) == len(set(reasons))
    assert all(r.isupper() and r.replace("_", "").isalpha() for r in reasons)


@pytest.mark.parametrize("cls", _error_classes())
def test_the_reason_rebuilds_the_exact_class(cls):
    err = cls("boom")
    wire = err.to_wire()
    wire["data"] = {"reason": err.codes.reason}
    assert type(errors.from_wire(wire)) is cls
