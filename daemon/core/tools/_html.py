"""HTML to readable text with the standard library's ``html.parser``.

The output is a light Markdown: headings as ``#``, list items as ``-``, links as
``[text](url)``, preformatted blocks kept verbatim, scripts, styles and other
non-content elements dropped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin

__all__ = ["html_to_text"]

_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "head"})
_BLOCK = frozenset({
    "p", "div", "section", "article", "header", "footer", "main", "aside", "nav", "ul", "ol",
    "table", "tr", "blockquote", "dl", "dt", "dd", "figure", "figcaption", "form", "fieldset",
    "details", "summary", "address", "hr",
})
_VOID = frozenset({
    "br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "track", "wbr",
})


class _Extractor(HTMLParser):
    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.parts: list[str] = []
        self.title = ""
        self._skip: list[str] = []
        self._pre = 0
        self._in_title = False
        self._links: list[tuple[str, int]] = []  # (href, index in parts where the text starts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
            return
        if tag in _SKIP:
            if tag not in _VOID:
                self._skip.append(tag)
            return
        if self._skip:
            return
        if re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "pre":
            self._pre += 1
            self.parts.append("\n\n```\n")
        elif tag in ("td", "th"):
            self.parts.append(" | ")
        elif tag in _BLOCK:
            self.parts.append("\n\n")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self._links.append((href, len(self.parts)))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f"[image: {alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
            return
        if re.fullmatch(r"h[1-6]", tag) or tag in _BLOCK:
            self.parts.append("\n\n")
        elif tag == "pre" and self._pre:
            self._pre -= 1
            self.parts.append("\n```\n\n")
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            text = _squash("".join(self.parts[start:])).strip()
            if text and href and not href.startswith(("#", "javascript:", "mailto:")):
                del self.parts[start:]
                self.parts.append(f"[{text}]({urljoin(self.base_url, href)})")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._skip:
            return
        self.parts.append(data if self._pre else _squash(data))


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def html_to_text(html: str, base_url: str = "") -> tuple[str, str]:
    """Return ``(title, text)`` for an HTML document."""
    parser = _Extractor(base_url)
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    # Tidy outside code fences: trim each line, at most one blank line in a row.
    lines: list[str] = []
    fenced = False
    for line in text.split("\n"):
        if line.strip() == "```":
            fenced = not fenced
        lines.append(line if fenced else line.strip())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return _squash(parser.title).strip(), text
