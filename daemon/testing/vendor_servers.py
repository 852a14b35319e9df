"""A loopback HTTP server speaking each model vendor's real streaming wire format.

One server answers every vendor's route, playing turns from one :class:`Script`::

    async with ScriptedVendorServer([Turn.text("hi")]) as server:
        provider = create_provider("openai", ProviderCredentials(api_key="k",
                                   base_url=server.openai_base_url))

Routes (``base_url`` is ``http://127.0.0.1:<port>``)::

    POST /v1/chat/completions, /chat/completions    OpenAI-compatible, Copilot chat (SSE)
    POST /v1/messages                               Anthropic Messages (SSE)
    POST /v1beta/models/{model}:streamGenerateContent   Gemini (SSE, ?alt=sse)
    POST /model/{modelId}/converse-stream           Bedrock (binary event stream)
    GET  /copilot_internal/v2/token                 Copilot token exchange

Every request is recorded (headers and JSON body) in :attr:`requests`. A
``Turn.failure(status)`` makes the next chat request answer that status with the
vendor's error body, so retries (429 then success) and auth failures (401) can be
scripted; :attr:`token_status` does the same for the Copilot token exchange.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp_sse import sse_response

from ..core.providers.scripted import DEFAULT_FALLBACK, Script, Turn
from ._render import (
    anthropic_events,
    bedrock_events,
    encode_event_frame,
    error_body,
    gemini_chunks,
    openai_chunks,
)

__all__ = ["RecordedRequest", "ScriptedVendorServer"]


@dataclass(slots=True)
class RecordedRequest:
    """One request as the server received it. Header names are lower-cased."""

    vendor: str  # "openai" | "anthropic" | "gemini" | "bedrock" | "copilot-token"
    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None
    raw: bytes = field(default=b"", repr=False)


class ScriptedVendorServer:
    """The scripted vendor server; an async context manager bound to 127.0.0.1:0.

    ``pieces`` is how many deltas each text and each tool-argument string is cut into;
    ``byte_chunk`` the slice size Bedrock frames are written in, so that frames
    straddle network writes as they do for real.
    """

    def __init__(
        self,
        turns: Iterable[Any] = (),
        *,
        fallback: str = DEFAULT_FALLBACK,
        pieces: int = 3,
        byte_chunk: int = 61,
        copilot_token: str = "copilot-test-token",
        token_ttl: float = 1800.0,
    ) -> None:
        self.script = Script.of(turns, fallback)
        self.pieces = pieces
        self.byte_chunk = byte_chunk
        self.copilot_token = copilot_token
        self.token_ttl = token_ttl
        self.token_status = 200
        self.requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("ScriptedVendorServer already started")
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post(r"/v1beta/models/{model:[^/:]+}:streamGenerateContent", self._gemini)
        app.router.add_post("/model/{model_id}/converse-stream", self._bedrock)
        app.router.add_get("/copilot_internal/v2/token", self._copilot_token)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._base_url = f"http://{host}:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> ScriptedVendorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: Anthropic, Gemini, Bedrock and Copilot bases."""
        if self._base_url is None:
            raise RuntimeError("ScriptedVendorServer is not started")
        return self._base_url

    @property
    def openai_base_url(self) -> str:
        """The OpenAI-style base, with ``/v1``."""
        return f"{self.base_url}/v1"

    def add(self, *turns: Any) -> None:
        """Queue more turns."""
        self.script.add(*turns)

    def requests_for(self, vendor: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.vendor == vendor]

    # -- handlers --------------------------------------------------------------------

    async def _record(self, request: web.Request, vendor: str) -> RecordedRequest:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        recorded = RecordedRequest(
            vendor=vendor,
            method=request.method,
            path=request.path,
            raw_path=request.raw_path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            raw=raw,
        )
        self.requests.append(recorded)
        return recorded

    async def _turn(self, request: web.Request, vendor: str) -> tuple[RecordedRequest, Turn, web.Response | None]:
        recorded = await self._record(request, vendor)
        turn = self.script.next_turn()
        if turn.error is None:
            return recorded, turn, None
        body, headers = error_body(vendor, turn.error)
        return recorded, turn, web.json_response(body, status=turn.error.status, headers=headers)

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        recorded, turn, failure = await self._turn(request, "openai")
        if failure is not None:
            return failure
        model = str((recorded.body or {}).get("model", "scripted"))
        async with sse_response(request, allow_all_methods=True) as sse:
            for chunk in openai_chunks(turn, model, self.pieces):
                await sse.send(json.dumps(chunk))
            await sse.send("[DONE]")
        return sse

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        recorded, turn, failure = await self._turn(request, "anthropic")
        if failure is not None:
            return failure
        model = str((recorded.body or {}).get("model", "scripted"))
        async with sse_response(request, allow_all_methods=True) as sse:
            for name, data in anthropic_events(turn, model, self.pieces):
                await sse.send(json.dumps(data), event=name)
        return sse

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        _, turn, failure = await self._turn(request, "gemini")
        if failure is not None:
            return failure
        model = request.match_info["model"]
        async with sse_response(request, allow_all_methods=True) as sse:
            for chunk in gemini_chunks(turn, model, self.pieces):
                await sse.send(json.dumps(chunk))
        return sse

    async def _bedrock(self, request: web.Request) -> web.StreamResponse:
        _, turn, failure = await self._turn(request, "bedrock")
        if failure is not None:
            return failure
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream"})
        await response.prepare(request)
        stream = b"".join(
            encode_event_frame(
                {":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
                json.dumps(payload).encode(),
            )
            for kind, payload in bedrock_events(turn, self.pieces)
        )
        for start in range(0, len(stream), self.byte_chunk):
            await response.write(stream[start : start + self.byte_chunk])
        await response.write_eof()
        return response

    async def _copilot_token(self, request: web.Request) -> web.Response:
        await self._record(request, "copilot-token")
        if self.token_status != 200:
            return web.json_response({"message": "Bad credentials"}, status=self.token_status)
        expires = int(time.time() + self.token_ttl)
        return web.json_response(
            {
                "token": self.copilot_token,
                "expires_at": expires,
                "refresh_in": max(0, int(self.token_ttl) - 300),
                "endpoints": {"api": self.base_url},
            }
        )
