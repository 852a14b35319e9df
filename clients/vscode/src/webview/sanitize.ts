/** DOMPurify over rendered Markdown: only formatting, no scripts, handlers, forms or frames. */
import DOMPurify from "dompurify";

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  // Links open through VS Code (the webview blocks navigation); never as an opener.
  if (node.tagName === "A") {
    node.setAttribute("rel", "noopener noreferrer");
  }
});

export function sanitize(html: string): string {
  return DOMPurify.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "img", "svg", "math"],
    FORBID_ATTR: ["style"],
  });
}
