import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { highlight, renderDiff, renderMarkdown } from "../src/webview/markdown";

describe("chat Markdown", () => {
  it("renders headings, lists and highlighted code blocks", () => {
    const html = renderMarkdown("# Title\n\n- one\n- two\n\n```python\ndef f():\n    return 1\n```\n");
    assert.match(html, /<h1>Title<\/h1>/);
    assert.equal((html.match(/<li>/g) ?? []).length, 2);
    assert.match(html, /<pre><code class="language-python"><span class="hljs-keyword">def<\/span>/);
  });

  it("shows the model's raw HTML as text, never as elements", () => {
    const html = renderMarkdown('hi <img src=x onerror="alert(1)"> and <script>alert(2)</script>\n\n<div onclick="x()">d</div>');
    assert.doesNotMatch(html, /<img|<script|<div/);
    assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
    assert.match(html, /&lt;script&gt;alert\(2\)&lt;\/script&gt;/);
  });

  it("drops dangerous link schemes and escapes code in unknown languages", () => {
    const html = renderMarkdown("[x](javascript:alert(1)) [y](https://example.com)\n\n```nolang\n<b>\n```\n");
    assert.doesNotMatch(html, /href="javascript:/);
    assert.match(html, /href="https:\/\/example.com"/);
    assert.match(html, /&lt;b&gt;/);
    assert.equal(highlight("x", "nolang"), "");
    assert.match(highlight("ls -la", "sh"), /ls/);
  });

  it("highlights diffs for edit cards", () => {
    assert.match(renderDiff("-old\n+new <x>\n"), /<span class="hljs-deletion">-old\n?<\/span>[\s\S]*hljs-addition">\+new &lt;x&gt;/);
  });
});
