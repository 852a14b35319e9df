"""LSP base-protocol framing that survives bad input (R6): a pure, incremental reader.

pygls's reader trusts every header: ``Content-Length: 99999999999`` allocates that much,
and a wrong length leaves the stream misaligned for good. :class:`FrameReader` is fed
raw bytes and returns complete bodies and :class:`FrameError` items, and never holds more
than one message (at most :data:`MAX_MESSAGE` bytes) plus one header block:

- header lines end in CRLF or LF; ``Content-Length`` is required, ``Content-Type`` and
  unknown headers are ignored; a block longer than :data:`MAX_HEADER` is an error;
- a ``Content-Length`` above :data:`MAX_MESSAGE` is an error and its body is skipped
  without being kept;
- after an error it resynchronises on the next ``Content-Length:`` header, and it reports
  one error per broken stretch, not one per byte;
- while reading a body it watches for another frame's header: ``Content-Length: N`` followed
  by a raw line break cannot occur in a JSON text (line breaks in strings are escaped), so a
  body containing one was declared too long; the body is cut there and reading goes on at
  that header instead of swallowing the messages behind it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MAX_HEADER", "MAX_MESSAGE", "FrameError", "FrameReader"]

MAX_MESSAGE = 64 * 1024 * 1024
MAX_HEADER = 8 * 1024

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_LINE_BREAK = re.compile(rb"\r?\n")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NEXT_HEADER = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
# Another frame's header inside a body (see the module docstring).
_HEADER_IN_BODY = re.compile(rb"content-length[ \t]*:[ \t]*\d{1,20}[ \t]*\r?\n", re.IGNORECASE)
_NAME = b"content-length"
_OVERLAP = 64  # a header split across two reads is still found
_CUT_HEADER = re.compile(rb"content-length[ \t]*(?::[ \t]*\d*[ \t]*\r?)?\Z")


def _cut_header(tail: bytes) -> int | None:
    """Where a header starts in ``tail`` that the end of ``tail`` cuts off
    ("Content-Le", "Content-Length: 4\r"), if any."""
    low = tail.lower()
    m = _CUT_HEADER.search(low)
    if m is not None:
        return m.start()
    for k in range(min(len(_NAME) - 1, len(low)), 0, -1):
        if low.endswith(_NAME[:k]):
            return len(low) - k
    return None


@dataclass(frozen=True)
class FrameError:
    """A frame that could not be read; answered with ``id: null``."""

    code: int  # -32700 (parse error) or -32600 (invalid request)
    message: str


class FrameReader:
    """Incremental reader; ``feed`` returns bodies (bytes) and errors in stream order.

    State: ``_buf`` holds unread bytes (a header block being read, or the rest after a
    body); while a body is read, ``_need`` counts the bytes still due and ``_body`` keeps
    them (or only the last ``_OVERLAP`` bytes when the body is skipped)."""

    def __init__(self, max_message: int = MAX_MESSAGE, max_header: int = MAX_HEADER) -> None:
        self.max_message = max_message
        self.max_header = max_header
        self._buf = bytearray()
        self._body = bytearray()
        self._need: int | None = None  # None: reading headers
        self._declared = 0
        self._keep = True
        self._resyncing = False  # an error was reported for the current broken stretch

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        self._buf += data
        out: list[bytes | FrameError] = []
        while True:
            if self._need is None:
                if not self._header(out):
                    return out
            elif not self._read_body(out):
                return out

    # -- headers -------------------------------------------------------------------------

    def _header(self, out: list[bytes | FrameError]) -> bool:
        """Parse one header block; False when more bytes are needed."""
        if not self._buf:
            return False
        end = _BLANK_LINE.search(self._buf, 0, self.max_header + 4)
        if end is None:
            if len(self._buf) > self.max_header:
                self._fail(out, -32600, "a message header is longer than 8 KiB")
                return True
            return False
        block = bytes(self._buf[:end.start()])
        length: int | None = None
        problem = None
        for line in _LINE_BREAK.split(block) if block else []:
            name, sep, value = line.partition(b":")
            if not sep or not _TOKEN.fullmatch(name):
                problem = "a message header line is not 'Name: value'"
                break
            if name.lower() == b"content-length":
                digits = value.strip()
                if not digits.isdigit():
                    problem = "Content-Length is not a number"
                    break
                # Compare lengths first: int() of a huge digit string is slow or refused.
                n = int(digits) if len(digits) <= 20 else self.max_message + 1
                if length is not None and n != length:
                    problem = "two different Content-Length headers"
                    break
                length = n
        if problem is None and length is None:
            problem = "a message has no Content-Length header"
        if problem is not None:
            self._fail(out, -32600, problem)
            return True
        assert length is not None
        del self._buf[:end.end()]
        self._declared = length
        self._need = length
        self._keep = length <= self.max_message
        self._body = bytearray()
        if not self._keep:
            self._report(out, -32600, f"a message of {length} bytes is over the "
                                      f"{self.max_message // (1024 * 1024)} MiB limit; skipped")
        return True

    def _fail(self, out: list[bytes | FrameError], code: int, message: str) -> None:
        """Report (once per broken stretch) and skip to the next ``Content-Length:``."""
        self._report(out, code, message)
        found = _NEXT_HEADER.search(self._buf, 1)
        if found is not None:
            del self._buf[:found.start()]
        else:  # keep only a tail that may be the start of a header split across reads
            keep = next((k for k in range(min(len(_NAME), len(self._buf)), 0, -1)
                         if self._buf[-k:].lower() == _NAME[:k]), 0)
            del self._buf[:len(self._buf) - keep]

    def _report(self, out: list[bytes | FrameError], code: int, message: str) -> None:
        if not self._resyncing:
            out.append(FrameError(code, message))
        self._resyncing = True

    # -- bodies ----------------------------------------------------------------------------

    def _read_body(self, out: list[bytes | FrameError]) -> bool:
        """Move body bytes from ``_buf``; False when more bytes are needed."""
        assert self._need is not None
        take = min(self._need, len(self._buf))
        if take == 0 and self._need > 0:
            return False
        chunk = bytes(self._buf[:take])
        tail = bytes(self._body[-_OVERLAP:])
        hit = _HEADER_IN_BODY.search(tail + chunk)
        if hit is not None:
            # The declared length ran into the next frame: cut the body there.
            start = hit.start() - len(tail)  # < 0: the header began in the kept tail
            rest = (tail[start:] if start < 0 else b"") + bytes(self._buf[max(start, 0):])
            self._buf = bytearray(rest)
            self._need = None
            self._body = bytearray()
            self._report(out, -32700, f"a message was shorter than its Content-Length "
                                      f"({self._declared}); reading on at the next header")
            return True
        del self._buf[:take]
        self._need -= take
        if self._keep:
            self._body += chunk
        else:
            self._body = bytearray((tail + chunk)[-_OVERLAP:])
        if self._need > 0:
            return False
        body, keep = bytes(self._body), self._keep
        self._need = None
        self._body = bytearray()
        if not keep:
            return True
        tail = body[-_OVERLAP:]
        partial = _cut_header(tail) if not body.rstrip().endswith(b"}") else None
        if partial is not None:
            # The declared length ended inside the next frame's header: give that header
            # back instead of losing the frame behind it (a JSON-RPC body ends with "}").
            cut = len(body) - len(tail) + partial
            self._buf[:0] = body[cut:]
            self._report(out, -32700, f"a message was shorter than its Content-Length "
                                      f"({self._declared}); reading on at the next header")
            return True
        self._resyncing = False
        out.append(body)
        return True
