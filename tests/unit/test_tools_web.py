"""webfetch and websearch, over httpx.MockTransport and a closed loopback port."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import httpx
import pytest
from codetether.daemon.core.tools import ToolContext, ToolResult, default_registry
from codetether.daemon.core.tools._html import html_to_text
from codetether.daemon.core.tools.web import MAX_BYTES
from codetether.daemon.errors import InvalidParams, ToolFailure

CallTool = Callable[..., Awaitable[ToolResult]]

PAGE = """<!doctype html><html><head><title>Demo  page</title><style>p{color:red}</style>
<script>var secret = 1;</script></head><body>
<nav><a href="/home">Home</a></nav>
<h1>Install</h1><p>Run   the
installer, then read <a href="docs/intro.html">the intro</a>.</p>
<ul><li>fast</li><li>small</li></ul>
<pre>def f():
    return 1</pre>
<table><tr><th>k</th><td>v</td></tr></table>
</body></html>"""


def handler(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/page":
        return httpx.Response(200, html=PAGE)
    if path == "/moved":
        return httpx.Response(301, headers={"location": "/page"})
    if path == "/plain":
        return httpx.Response(200, text="just text", headers={"content-type": "text/plain; charset=utf-8"})
    if path == "/image.png":
        return httpx.Response(200, content=b"\x89PNG\r\n\x1a\n\x00\x00", headers={"content-type": "image/png"})
    if path == "/huge":
        return httpx.Response(200, content=b"a" * (MAX_BYTES + 10), headers={"content-type": "text/plain"})
    if path == "/search":
        assert request.url.params["format"] == "json"
        query = request.url.params["q"]
        if query == "broken":
            return httpx.Response(200, text="<html>not json</html>")
        return httpx.Response(200, json={"results": [
            {"title": "Result  one", "url": "https://one.example/", "content": "first\nsnippet"},
            {"title": "", "url": "https://two.example/", "content": ""},
            {"title": "no url"},
        ]})
    return httpx.Response(404, text="not here")


@pytest.fixture
def web_ctx(tool_ctx: ToolContext) -> ToolContext:
    tool_ctx.registry = default_registry(http_transport=httpx.MockTransport(handler))
    return tool_ctx


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webfetch_converts_html(web_ctx: ToolContext, call_tool: CallTool) -> None:
    result = await call_tool("webfetch", url="https://docs.example/moved")
    assert result.output.startswith(
        "Title: Demo page\nURL: https://docs.example/page\nContent-Type: text/html\n\n"
    )
    body = result.output.split("\n\n", 1)[1]
    assert "secret" not in body and "color" not in body
    assert "[Home](https://docs.example/home)" in body
    assert "# Install" in body
    assert "Run the installer, then read [the intro](https://docs.example/docs/intro.html)." in body
    assert "- fast\n- small" in body
    assert "```\ndef f():\n    return 1\n```" in body
    assert result.metadata["final_url"] == "https://docs.example/page"
    assert result.metadata["status"] == 200


async def test_webfetch_raw_and_plain_text(web_ctx: ToolContext, call_tool: CallTool) -> None:
    raw = await call_tool("webfetch", url="https://docs.example/page", format="raw")
    assert "<script>var secret = 1;</script>" in raw.output
    plain = await call_tool("webfetch", url="https://docs.example/plain")
    assert plain.output.endswith("\n\njust text")


async def test_webfetch_errors(web_ctx: ToolContext, call_tool: CallTool) -> None:
    with pytest.raises(ToolFailure, match=r"webfetch https://docs.example/missing: HTTP 404 Not Found: not here"):
        await call_tool("webfetch", url="https://docs.example/missing")
    with pytest.raises(ToolFailure, match="image/png"):
        await call_tool("webfetch", url="https://docs.example/image.png")
    for bad in ("ftp://example.com/x", "file:///etc/passwd", "not a url", "http://"):
        with pytest.raises(InvalidParams, match="invalid URL"):
            await call_tool("webfetch", url=bad)


async def test_webfetch_caps_download_and_text(web_ctx: ToolContext, call_tool: CallTool) -> None:
    result = await call_tool("webfetch", url="https://docs.example/huge", max_chars=1000)
    assert result.metadata["truncated"] is True and result.metadata["bytes"] == MAX_BYTES
    assert "[download stopped at" in result.output and "[text shortened" in result.output
    assert len(result.output) < 1500


async def test_webfetch_unreachable_names_url_and_cause(
    call_tool: CallTool, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    url = f"http://127.0.0.1:{closed_port}/docs"
    with pytest.raises(ToolFailure, match=rf"webfetch {url}: cannot reach the server \(.+\)"):
        await call_tool("webfetch", url=url)


async def test_websearch(web_ctx: ToolContext, call_tool: CallTool) -> None:
    web_ctx.settings["websearch_url"] = "https://search.example/search"
    result = await call_tool("websearch", query="python asyncio")
    assert result.output == (
        "Web results for 'python asyncio':\n"
        "1. Result one\n   https://one.example/\n   first snippet\n"
        "2. https://two.example/\n   https://two.example/"
    )
    assert result.metadata["count"] == 2
    limited = await call_tool("websearch", query="python", limit=1)
    assert limited.metadata["count"] == 1
    with pytest.raises(ToolFailure, match="did not return JSON"):
        await call_tool("websearch", query="broken")


async def test_websearch_unconfigured_and_offline(
    tool_ctx: ToolContext, call_tool: CallTool, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ToolFailure, match=r"^websearch is not configured: set \[tools\] websearch_url$"):
        await call_tool("websearch", query="x")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    tool_ctx.settings["websearch_url"] = f"http://127.0.0.1:{closed_port}/search"
    with pytest.raises(ToolFailure, match=rf"websearch endpoint http://127.0.0.1:{closed_port}/search: cannot reach"):
        await call_tool("websearch", query="x")


def test_web_tools_need_approval() -> None:
    registry = default_registry()
    fetch, search = registry.get("webfetch"), registry.get("websearch")
    assert fetch is not None and search is not None
    assert not fetch.read_only and not search.read_only
    assert fetch.approval_subject(fetch.parse({"url": "https://x.example/a"})) == "https://x.example/a"
    assert search.approval_subject(search.parse({"query": "q"})) == "q"


def test_html_to_text_edge_cases() -> None:
    title, text = html_to_text("<p>a<br>b</p><a href='#top'>top</a><img alt='logo'><svg><text>x</text></svg>")
    assert title == ""
    assert text == "a\nb\n\ntop[image: logo]"
