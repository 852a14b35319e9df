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
