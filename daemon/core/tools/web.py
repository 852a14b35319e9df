"""webfetch and websearch.

Neither is ``read_only``: both send data out of the machine (a URL or a query
can carry anything the model read), so the approval policy decides, matching
on the URL for webfetch and on the query for websearch. httpx errors are mapped
to :class:`ToolFailure` here, naming the URL or endpoint and the cause.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ... import __version__
from ...errors import InvalidParams, ToolFailure
from ._util import cap_text, is_binary
from .base import Tool, ToolContext, ToolResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    import httpx

__all__ = ["WebFetchTool", "WebSearchTool"]

MAX_BYTES = 5 * 1024 * 1024
_USER_AGENT = f"codetether/{__version__} (+https://github.com/codetether)"
_TEXTUAL = ("text/", "application/json", "application/xml", "application/xhtml", "+json", "+xml",
            "application/javascript", "application/x-sh", "application/toml", "application/yaml")


class WebFetchParams(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str, Meta(min_length=1, description="An http:// or https:// URL.")]
    format: Annotated[
        Literal["text", "raw"],
        Meta(
            description=(
                "`text` (default): HTML turned into readable text with links; "
                "`raw`: the body as received."
            )
        ),
    ] = "text"
    max_chars: Annotated[
        int, Meta(ge=1000, le=200_000, description="Longest text returned (default 50000).")
    ] = 50_000
    timeout: Annotated[int, Meta(ge=1, le=120, description="Seconds before giving up (default 30).")] = 30


class WebFetchTool(Tool):
    name = "webfetch"
    description = (
        "Fetch a web page or other text resource over HTTP(S) and return it as text: HTML "
        "is converted to readable text with Markdown-style headings, lists and links. "
        "Follows redirects; refuses binary content (images, PDFs, archives). Use it for "
        "documentation, issues and API references the user points to."
    )
    params = WebFetchParams

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.transport = transport

    def approval_subject(self, args: WebFetchParams) -> str:
        return args.url

    async def run(self, args: WebFetchParams, ctx: ToolContext) -> ToolResult:
        url = _check_url(args.url)
        body, response = await _get(url, args.timeout, self.transport, what=f"webfetch {url}")
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        data, truncated = body
        if is_binary(data) or (ctype and not any(t in ctype for t in _TEXTUAL)):
            raise ToolFailure(
                f"webfetch {url}: the content is {ctype or 'binary'} ({len(data)} bytes), not text"
            )
        text = data.decode(response.charset_encoding or "utf-8", errors="replace")
        title = ""
        if args.format == "text" and ("html" in ctype or (not ctype and "<html" in text[:1000].lower())):
            from ._html import html_to_text  # deferred with html.parser: first page fetched

            title, text = html_to_text(text, str(response.url))
        text, cut = cap_text(text, args.max_chars, "page text")
        header = [f"URL: {response.url}", f"Content-Type: {ctype or 'unknown'}"]
        if title:
            header.insert(0, f"Title: {title}")
        notes = []
        if truncated:
            notes.append(f"[download stopped at {MAX_BYTES} bytes]")
        if cut:
            notes.append("[text shortened; the middle was omitted]")
        output = "\n".join(header) + "\n\n" + text + ("\n" + "\n".join(notes) if notes else "")
        meta = {
            "url": url,
            "final_url": str(response.url),
            "status": response.status_code,
            "content_type": ctype,
            "bytes": len(data),
            "truncated": truncated or cut,
        }
        return ToolResult(output, metadata=meta)


class WebSearchParams(msgspec.Struct, forbid_unknown_fields=True):
    query: Annotated[str, Meta(min_length=1, description="What to search the web for.")]
    limit: Annotated[int, Meta(ge=1, le=20, description="Maximum number of results (default 8).")] = 8


class WebSearchTool(Tool):
    name = "websearch"
    description = (
        "Search the web and return the top results (title, URL and snippet). Use webfetch "
        "on a result's URL to read it. Good for current documentation, error messages and "
        "library versions."
    )
    params = WebSearchParams

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.transport = transport

    def approval_subject(self, args: WebSearchParams) -> str:
        return args.query

    async def run(self, args: WebSearchParams, ctx: ToolContext) -> ToolResult:
        import httpx  # deferred: an idle daemon never loads it
        endpoint = ctx.settings.get("websearch_url")
        if not endpoint:
            raise ToolFailure("websearch is not configured: set [tools] websearch_url")
        base = _check_url(str(endpoint))
        url = str(httpx.URL(base).copy_merge_params({"q": args.query, "format": "json"}))
        (data, _), _response = await _get(url, 20, self.transport, what=f"websearch endpoint {base}")
        try:
            payload = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise ToolFailure(
                f"websearch endpoint {base} did not return JSON (in SearxNG, enable the json "
                "format under search.formats)"
            ) from exc
        raw = payload.get("results") if isinstance(payload, dict) else None
        if not isinstance(raw, list):
            raise ToolFailure(f"websearch endpoint {base} returned JSON without a results list")
        results = [_result(r) for r in raw if isinstance(r, dict) and r.get("url")][: args.limit]
        if not results:
            return ToolResult(f"No web results for {args.query!r}.", metadata={"count": 0, "results": []})
        lines = [f"Web results for {args.query!r}:"]
        for index, item in enumerate(results, start=1):
            lines.append(f"{index}. {item['title'] or item['url']}\n   {item['url']}")
            if item["snippet"]:
                lines.append(f"   {item['snippet']}")
        return ToolResult("\n".join(lines), metadata={"count": len(results), "results": results})


def _result(raw: dict[str, Any]) -> dict[str, str]:
    snippet = " ".join(str(raw.get("content") or "").split())
    return {
        "title": " ".join(str(raw.get("title") or "").split()),
        "url": str(raw.get("url")),
        "snippet": snippet[:400],
    }


def _check_url(url: str) -> str:
    import httpx  # deferred: an idle daemon never loads it
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise InvalidParams(f"invalid URL {url!r}: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidParams(f"invalid URL {url!r}: only http:// and https:// URLs with a host are fetched")
    return str(parsed)


async def _get(
    url: str, timeout: float, transport: httpx.AsyncBaseTransport | None, what: str
) -> tuple[tuple[bytes, bool], httpx.Response]:
    """GET ``url``; return ((body up to MAX_BYTES, cut?), response). Errors become ToolFailure."""
    import httpx  # deferred: an idle daemon never loads it
    headers = {"User-Agent": _USER_AGENT, "Accept": "text/html,text/plain,application/json;q=0.9,*/*;q=0.5"}
    try:
        async with httpx.AsyncClient(
            transport=transport, timeout=timeout, follow_redirects=True, max_redirects=5, headers=headers
        ) as client:
            async with client.stream("GET", url) as response:
                chunks: list[bytes] = []
                size = 0
                truncated = False
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= MAX_BYTES:
                        truncated = True
                        break
                body = b"".join(chunks)[:MAX_BYTES]
                if response.status_code >= 400:
                    excerpt = body[:200].decode("utf-8", errors="replace").strip()
                    raise ToolFailure(
                        f"{what}: HTTP {response.status_code} {response.reason_phrase}"
                        + (f": {excerpt}" if excerpt else ""),
                        data={"status": response.status_code},
                    )
                return (body, truncated), response
    except httpx.TimeoutException as exc:
        raise ToolFailure(f"{what}: timed out after {timeout:.0f}s") from exc
    except httpx.TooManyRedirects as exc:
        raise ToolFailure(f"{what}: too many redirects") from exc
    except httpx.HTTPError as exc:
        detail = str(exc) or type(exc).__name__
        raise ToolFailure(f"{what}: cannot reach the server ({detail})") from exc
