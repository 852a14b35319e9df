"""The server's stdio transport and error boundary (R6).

pygls's own loop gives up on bad frames (see :mod:`.framing`) and drops requests whose
params do not structure without answering; its error replies carry Python class names and
tracebacks. Here: :func:`serve` reads frames with :class:`~.framing.FrameReader` and
answers every request; :class:`CodetetherProtocol` maps exceptions to plain JSON-RPC
errors at the boundary (tracebacks go to the log only).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from concurrent.futures import Future
from typing import Any, BinaryIO

from codetether.daemon.errors import CodetetherError
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol

from .framing import FrameError, FrameReader

__all__ = ["CodetetherProtocol", "serve_stdio", "to_rpc_error"]

log = logging.getLogger("codetether.lsp.stdio")

_READ = 64 * 1024


def to_rpc_error(exc: BaseException) -> JsonRpcException:
    """A plain JSON-RPC error for any exception a handler raised: our own errors keep their
    code and message; bad arguments are -32602; anything else is an internal error whose
    message is the exception's text, never its class path or traceback."""
    if isinstance(exc, JsonRpcException):
        data = exc.data if not (isinstance(exc.data, dict) and "traceback" in exc.data) else None
        return JsonRpcException(message=exc.message, code=exc.code, data=data)
    if isinstance(exc, CodetetherError):
        wire = exc.to_wire()
        return JsonRpcException(message=wire["message"], code=wire["code"], data=wire.get("data"))
    if isinstance(exc, (ValueError, TypeError, KeyError)):
        return JsonRpcException(message=str(exc).strip("'\"") or "invalid arguments", code=-32602)
    return JsonRpcException(message=f"internal error in the codetether language server: {exc}",
                            code=-32603)


class CodetetherProtocol(LanguageServerProtocol):
    """pygls's LSP protocol with one error boundary: every handler failure is answered
    through :func:`to_rpc_error`."""

    def _send_handler_result(self, future: Any, *, msg_id: Any) -> None:
        if not future.cancelled() and future.exception() is not None:
            exc = future.exception()
            if not isinstance(exc, JsonRpcException) or isinstance(exc.data, dict):
                if not isinstance(exc, (JsonRpcException, CodetetherError)):
                    log.error("request %s failed", msg_id, exc_info=exc)
                plain: Future[Any] = Future()
                plain.set_exception(to_rpc_error(exc))
                future = plain
        super()._send_handler_result(future, msg_id=msg_id)

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        # pygls builds some errors itself (a handler that raised before it could run);
        # strip their tracebacks here too.
        if error is not None and isinstance(error.data, dict) and "traceback" in error.data:
            error.data = None
        super()._send_response(msg_id, result, error)

    def send_error(self, msg_id: Any, code: int, message: str) -> None:
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})

    def dispatch(self, body: bytes) -> None:
        """Handle one frame's body; every request gets an answer."""
        try:
            raw = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return self.send_error(None, -32700, f"a message is not valid JSON: {_short(exc)}")
        if not isinstance(raw, dict):
            return self.send_error(None, -32600, "a message must be a JSON object (batches are not used by LSP)")
        msg_id = raw.get("id")
        if not (msg_id is None or (isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool))):
            return self.send_error(None, -32600, '"id" must be a string or a number')
        method = raw.get("method")
        if raw.get("jsonrpc") != "2.0" or (method is not None and not isinstance(method, str)) \
                or (method is None and "id" not in raw):
            return self.send_error(msg_id, -32600, 'not a JSON-RPC 2.0 message ("jsonrpc": "2.0", '
                                                   'a string "method" or an "id")')
        # Unknown top-level members are ignored, not an error of the params.
        raw = {k: v for k, v in raw.items() if k in ("jsonrpc", "id", "method", "params", "result", "error")}
        try:
            message = self.structure_message(raw)
        except JsonRpcException as exc:
            detail = _field_errors(exc.__cause__) or exc.message
            if method is not None and "id" in raw:
                self.send_error(msg_id, -32602, f"invalid params for {method}: {detail}")
            elif method is None and msg_id is not None:  # a reply to our request that does not parse
                pending = self._request_futures.pop(msg_id, None)
                if pending is not None and not pending.done():
                    pending.set_exception(JsonRpcException(message=f"invalid reply: {detail}", code=-32602))
            else:
                log.warning("dropped notification %s: %s", method, detail)
            return None
        self.handle_message(message)
        return None


def _short(exc: BaseException) -> str:
    return str(exc)[:200]


def _field_errors(cause: BaseException | None) -> str:
    """cattrs' validation errors as ``required field missing @ $.params.textDocument``."""
    if cause is None:
        return ""
    try:
        from cattrs import transform_error

        return "; ".join(transform_error(cause, path="$"))[:500]
    except Exception:  # noqa: BLE001 - only a nicer message is lost
        return _short(cause)


async def _read_loop(server: Any, stdin: BinaryIO) -> None:
    loop = asyncio.get_running_loop()
    reader = FrameReader()
    protocol: CodetetherProtocol = server.protocol
    fd = stdin.fileno()
    while not server._stop_event.is_set():
        # A thread, as pygls does: stdin may be a pipe, a file or a tty.
        data = await loop.run_in_executor(server.thread_pool, os.read, fd, _READ)
        if not data:
            break
        for item in reader.feed(data):
            if isinstance(item, FrameError):
                protocol.send_error(None, item.code, item.message)
                continue
            try:
                protocol.dispatch(item)
            except Exception:  # noqa: BLE001 - one bad message must not stop the server
                log.exception("could not handle a message")
                protocol.send_error(None, -32603, "the language server could not handle a message")


def serve_stdio(server: Any, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """pygls's ``start_io`` with :func:`_read_loop` as the reader."""
    import threading

    from pygls.io_ import StdoutWriter

    server._stop_event = threading.Event()
    server.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
    try:
        asyncio.run(_read_loop(server, stdin or sys.stdin.buffer))
    except BrokenPipeError:
        log.error("the client closed the connection")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()
