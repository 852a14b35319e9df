import "./fakeVscode";

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { appendEntry, type ChatEntry, chatEntry, ChatView } from "../src/chatView";

describe("chat transcript", () => {
  it("maps session events to entries", () => {
    assert.deepEqual(chatEntry({ type: "text", text: "Hi" }), { kind: "text", text: "Hi" });
    assert.deepEqual(chatEntry({ type: "user", text: "Q" }), { kind: "user", text: "Q" });
    assert.deepEqual(chatEntry({ type: "tool_call_start", call_id: "c", name: "edit", arguments: "{}" }),
      { kind: "tool", text: "⚙ edit" });
    assert.equal(chatEntry({ type: "tool_call_end", name: "edit", output: "ok" }), undefined);
    assert.deepEqual(chatEntry({ type: "tool_call_end", name: "edit", output: "boom", is_error: true }),
      { kind: "error", text: "✗ edit: boom" });
    assert.deepEqual(chatEntry({ type: "error", code: -1, message: "bad" }), { kind: "error", text: "error: bad" });
    assert.deepEqual(chatEntry({ type: "done", stop_reason: "end_turn", steps: 1 }), { kind: "done", text: "" });
    assert.deepEqual(chatEntry({ type: "done", stop_reason: "cancelled", steps: 1 }), { kind: "done", text: "(cancelled)" });
    assert.equal(chatEntry({ type: "usage", input_tokens: 1, output_tokens: 1 }), undefined);
  });

  it("merges streamed chunks and keeps other entries apart", () => {
    const entries: ChatEntry[] = [];
    for (const e of [
      { kind: "user", text: "Q" }, { kind: "text", text: "Hel" }, { kind: "text", text: "lo" },
      { kind: "tool", text: "⚙ a" }, { kind: "tool", text: "⚙ b" }, { kind: "text", text: "!" },
    ] as ChatEntry[]) {
      appendEntry(entries, e);
    }
    assert.deepEqual(entries.map((e) => e.text), ["Q", "Hello", "⚙ a", "⚙ b", "!"]);
  });

  it("does not alias the entries it is given", () => {
    const entries: ChatEntry[] = [];
    const chunk: ChatEntry = { kind: "text", text: "a" };
    appendEntry(entries, chunk);
    appendEntry(entries, { kind: "text", text: "b" });
    assert.equal(chunk.text, "a");
  });
});

// E2: the history is posted once the webview listens, and the webview keeps its own copy
describe("ChatView", () => {
  it("posts the transcript only when the webview script is ready, each time it loads", () => {
    const chat = new ChatView({ send: async () => {}, cancel: async () => {}, newSession: async () => {} });
    const posted: unknown[] = [];
    let listener: (msg: unknown) => void = () => undefined;
    const view = {
      webview: {
        options: {},
        html: "",
        onDidReceiveMessage: (l: (msg: unknown) => void) => {
          listener = l;
          return { dispose() {} };
        },
        postMessage: async (m: unknown) => posted.push(m) > 0,
      },
      onDidDispose: () => ({ dispose() {} }),
    };
    chat.onEvent({ session_id: "s", seq: 1, event: { type: "user", text: "Q" } });
    chat.onEvent({ session_id: "s", seq: 2, event: { type: "text", text: "A" } });
    chat.resolveWebviewView(view as never);
    assert.deepEqual(posted, []);
    assert.match(view.webview.html, /getState\(\)/);
    assert.match(view.webview.html, /setState\(/);
    listener({ type: "ready" });
    assert.deepEqual(posted, [{ type: "reset", entries: [{ kind: "user", text: "Q" }, { kind: "text", text: "A" }] }]);
    chat.dispose();
  });
});
