import "./fakeVscode";

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { appendEntry, type ChatEntry, chatEntry } from "../src/chatView";

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
