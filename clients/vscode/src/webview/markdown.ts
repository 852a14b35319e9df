/**
 * Markdown for the chat: markdown-it with raw HTML off (a model's `<img onerror>` or
 * `<script>` stays text), highlight.js core with a few languages for fenced code, and
 * DOMPurify over the result as a second line (links and attributes markdown-it lets through).
 * `renderMarkdown` is pure and runs in node for tests; `sanitize` needs the webview's DOM.
 */
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import diff from "highlight.js/lib/languages/diff";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import typescript from "highlight.js/lib/languages/typescript";
import MarkdownIt from "markdown-it";

const LANGUAGES = { bash, diff, javascript, json, python, rust, typescript } as const;
for (const [name, lang] of Object.entries(LANGUAGES)) {
  hljs.registerLanguage(name, lang);
}
hljs.registerAliases(["sh", "shell", "console"], { languageName: "bash" });
hljs.registerAliases(["js"], { languageName: "javascript" });
hljs.registerAliases(["ts"], { languageName: "typescript" });
hljs.registerAliases(["py"], { languageName: "python" });
hljs.registerAliases(["rs"], { languageName: "rust" });
hljs.registerAliases(["patch"], { languageName: "diff" });

/** Highlighted HTML for `code` (already escaped by highlight.js), or "" to let markdown-it escape it. */
export function highlight(code: string, lang: string): string {
  const name = lang.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
  if (!name || !hljs.getLanguage(name)) {
    return "";
  }
  try {
    return hljs.highlight(code, { language: name, ignoreIllegals: true }).value;
  } catch {
    return "";
  }
}

const md: MarkdownIt = new MarkdownIt({
  html: false, // the model's HTML is shown as text, never parsed
  linkify: true,
  breaks: false,
  highlight,
});

/** Markdown → HTML (raw HTML escaped, links limited to markdown-it's safe schemes). */
export function renderMarkdown(text: string): string {
  return md.render(text);
}

/** A diff as highlighted HTML (for edit cards). */
export function renderDiff(diffText: string): string {
  return hljs.highlight(diffText, { language: "diff", ignoreIllegals: true }).value;
}
