import "./fakeVscode";

import * as vscode from "vscode";

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";

import { type ChatActions, chatHtml, ChatView, type StateStore } from "../src/chatView";
import { modelChoice, sessionItems } from "../src/commands";
import { FileState } from "../src/state";
import { applyEvent, argsSummary, type ChatEntry, MAX_ENTRIES, validEntries } from "../src/transcript";

function fold(events: { type: string; [k: string]: unknown }[]): ChatEntry[] {
  const entries: ChatEntry[] = [];
  for (const e of events) applyEvent(entries, e);
  return entries;
}

describe("chat transcript", () => {
  it("maps session events to entries", () => {
    assert.deepEqual(fold([{ type: "text", text: "Hi" }]), [{ kind: "text", text: "Hi" }]);
    assert.deepEqual(fold([{ type: "user", text: "Q" }]), [{ kind: "user", text: "Q" }]);
    assert.deepEqual(fold([{ type: "error", code: -1, message: "bad" }]), [{ kind: "error", text: "error: bad" }]);
    assert.deepEqual(fold([{ type: "done", stop_reason: "end_turn", steps: 1 }]), [{ kind: "done", text: "" }]);
    assert.deepEqual(fold([{ type: "done", stop_reason: "cancelled", steps: 1 }]), [{ kind: "done", text: "(cancelled)" }]);
    assert.deepEqual(fold([{ type: "usage", input_tokens: 1, output_tokens: 1 }]), []);
  });

  it("merges streamed chunks and keeps other entries apart", () => {
    const entries = fold([
      { type: "user", text: "Q" }, { type: "text", text: "Hel" }, { type: "text", text: "lo" },
      { type: "thinking", text: "hm" }, { type: "thinking", text: "m" }, { type: "text", text: "!" },
    ]);
    assert.deepEqual(entries, [
      { kind: "user", text: "Q" }, { kind: "text", text: "Hello" }, { kind: "thinking", text: "hmm" }, { kind: "text", text: "!" },
    ]);
  });

  it("folds a tool call into one card: arguments, streamed output, result and the edit's diff", () => {
    const entries: ChatEntry[] = [];
    assert.deepEqual(applyEvent(entries, { type: "tool_call_start", call_id: "c1", name: "bash", arguments: '{"command":"ls"}' }),
      { index: 0, trimmed: false });
    applyEvent(entries, { type: "tool_call_start", call_id: "c2", name: "edit", arguments: '{"path":"a.py"}' });
    assert.deepEqual(applyEvent(entries, { type: "tool_output", call_id: "c1", text: "a.py\n" }), { index: 0, trimmed: false });
    applyEvent(entries, { type: "tool_output", call_id: "c1", text: "b.py\n" });
    assert.equal(applyEvent(entries, { type: "tool_output", call_id: "nope", text: "x" }), undefined);
    applyEvent(entries, { type: "tool_call_end", call_id: "c1", name: "bash", output: "a.py\nb.py\n" });
    applyEvent(entries, {
      type: "tool_call_end", call_id: "c2", name: "edit", output: "edited", is_error: false,
      changes: [{ path: "a.py", kind: "modify", diff: "-x\n+y\n", additions: 1, deletions: 1 }, "junk"],
    });
    assert.deepEqual(entries, [
      { kind: "tool", id: "c1", name: "bash", args: '{"command":"ls"}', output: "a.py\nb.py\n", result: "a.py\nb.py\n", isError: false, changes: [] },
      { kind: "tool", id: "c2", name: "edit", args: '{"path":"a.py"}', output: "", result: "edited", isError: false,
        changes: [{ path: "a.py", kind: "modify", diff: "-x\n+y\n" }] },
    ]);
  });

  it("shows a tool end whose start it never saw as its own card", () => {
    const entries = fold([{ type: "tool_call_end", call_id: "c9", name: "read", output: "boom", is_error: true }]);
    assert.deepEqual(entries, [{ kind: "tool", id: "c9", name: "read", args: "", output: "", result: "boom", isError: true, changes: [] }]);
  });

  it("stays bounded and says when it trimmed", () => {
    const entries: ChatEntry[] = [];
    for (let i = 0; i < MAX_ENTRIES; i++) applyEvent(entries, { type: "user", text: String(i) });
    assert.deepEqual(applyEvent(entries, { type: "user", text: "last" }), { index: MAX_ENTRIES - 1, trimmed: true });
    assert.equal(entries.length, MAX_ENTRIES);
    assert.deepEqual(entries[0], { kind: "user", text: "1" });
  });

  it("summarises arguments and keeps only well-formed stored entries", () => {
    assert.equal(argsSummary('{"command":"echo  hi\\nthere","timeout":5}'), "echo hi there 5");
    assert.equal(argsSummary("not json"), "not json");
    assert.equal(argsSummary(JSON.stringify({ a: "x".repeat(200) }), 10), "xxxxxxxxx…");
    assert.deepEqual(validEntries([{ kind: "text", text: "a" }, { kind: "text" }, { kind: "bogus", text: "b" }, null,
      { kind: "tool", id: "1", name: "n", args: "", output: "" }]),
    [{ kind: "text", text: "a" }, { kind: "tool", id: "1", name: "n", args: "", output: "" }]);
    assert.deepEqual(validEntries("nope"), []);
  });
});

describe("toolbar data", () => {
  it("lists sessions most recent first, labelled by title", () => {
    const items = sessionItems([
      { id: "a", title: "old", updated_at: 1 }, { id: "b", title: "", updated_at: 5 }, { title: "no id" }, 3,
    ]);
    assert.deepEqual(items.map((s) => [s.id, s.label]), [["b", "b"], ["a", "old"]]);
    assert.deepEqual(sessionItems(undefined), []);
  });

  it("reads the model result", () => {
    assert.deepEqual(modelChoice({ model: null, models: ["p/a", { id: "p/b" }, 7] }), { model: null, models: ["p/a", "p/b"] });
    assert.deepEqual(modelChoice({ model: "p/a" }), { model: "p/a", models: [] });
    assert.deepEqual(modelChoice(null), { model: null, models: [] });
  });
});

describe("chat page", () => {
  it("has a strict CSP: no inline script or style, the script by nonce, nothing from the network", () => {
    const html = chatHtml({ nonce: "N0NCE", cspSource: "vscode-resource:", script: "vscode-resource:/dist/webview.js", style: "vscode-resource:/media/chat.css" });
    const csp = /Content-Security-Policy" content="([^"]*)"/.exec(html)?.[1] ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-N0NCE'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:|\*/);
    assert.match(html, /<script nonce="N0NCE" src="vscode-resource:\/dist\/webview.js"><\/script>/);
    assert.equal((html.match(/<script/g) ?? []).length, 1);
    assert.doesNotMatch(html, /<style|\sstyle="|\son[a-z]+="/);
  });
});

// E2 and reloads: the history is posted once the webview listens, and kept per session in the workspace state
describe("ChatView", () => {
  const actions: ChatActions = {
    send: async () => {}, cancel: async () => {}, newSession: async () => {}, models: async () => ({ model: null, models: [] }),
    setModel: async () => {}, sessions: async () => [], resume: async () => {},
  };

  function fakeView() {
    const posted: unknown[] = [];
    let listener: (msg: unknown) => void = () => undefined;
    const view = {
      webview: {
        options: {},
        html: "",
        cspSource: "vscode-resource:",
        asWebviewUri: (u: unknown) => u,
        onDidReceiveMessage: (l: (msg: unknown) => void) => {
          listener = l;
          return { dispose() {} };
        },
        postMessage: async (m: unknown) => posted.push(m) > 0,
      },
      onDidDispose: () => ({ dispose() {} }),
    };
    return { view, posted, send: (m: unknown) => listener(m) };
  }

  class Store implements StateStore {
    data = new Map<string, unknown>();
    get<T>(key: string): T | undefined {
      return structuredClone(this.data.get(key)) as T | undefined;
    }
    async update(key: string, value: unknown): Promise<void> {
      this.data.set(key, structuredClone(value));
    }
  }

  it("posts the transcript only when the webview script is ready, each time it loads", () => {
    const chat = new ChatView(actions, vscode.Uri.parse("file:/ext"));
    const { view, posted, send } = fakeView();
    chat.onEvent({ session_id: "s", seq: 1, event: { type: "user", text: "Q" } });
    chat.onEvent({ session_id: "s", seq: 2, event: { type: "text", text: "A" } });
    chat.resolveWebviewView(view as never);
    assert.deepEqual(posted, []);
    assert.match(view.webview.html, /dist\/webview\.js/);
    send({ type: "ready" });
    assert.deepEqual(posted, [{ type: "reset", entries: [{ kind: "user", text: "Q" }, { kind: "text", text: "A" }] }]);
    chat.onEvent({ session_id: "s", seq: 3, event: { type: "usage", input_tokens: 1, output_tokens: 1 } });
    chat.onEvent({ session_id: "s", seq: 4, event: { type: "text", text: "B" } });
    assert.deepEqual(posted[1], { type: "event", event: { type: "text", text: "B" } });
    assert.equal(posted.length, 2);
    chat.dispose();
  });

  it("keeps each session's transcript across a reload and shows it on resume", async () => {
    const store = new Store();
    const first = new ChatView(actions, vscode.Uri.parse("file:/ext"), store);
    first.onEvent({ session_id: "s1", seq: 1, event: { type: "user", text: "one" } });
    first.clear("s2");
    first.onEvent({ session_id: "s2", seq: 1, event: { type: "user", text: "two" } });
    await first.save();
    first.dispose();

    // the window reloads: a new extension host reads the workspace state
    const second = new ChatView(actions, vscode.Uri.parse("file:/ext"), store);
    assert.equal(second.sessionId, "s2");
    const { view, posted, send } = fakeView();
    second.resolveWebviewView(view as never);
    send({ type: "ready" });
    assert.deepEqual(posted.pop(), { type: "reset", entries: [{ kind: "user", text: "two" }] });
    second.showSession("s1");
    assert.deepEqual(posted.pop(), { type: "reset", entries: [{ kind: "user", text: "one" }] });
    assert.equal(second.showSession("unknown"), false);
    const reset = posted.pop() as { entries: ChatEntry[] };
    assert.equal(reset.entries[0].kind, "notice");
    // its history arrives from the server (codetether.history): the view redraws it
    second.loadHistory("unknown", [
      { session_id: "unknown", seq: 0, event: { type: "user", text: "from the daemon" } },
      { session_id: "unknown", seq: 1, event: { type: "text", text: "its answer" } },
    ]);
    const redrawn = posted.pop() as { entries: ChatEntry[] };
    assert.deepEqual(redrawn.entries.map((e) => e.kind), ["user", "text"]);
    second.loadHistory("s1", [{ session_id: "s1", seq: 0, event: { type: "user", text: "not shown" } }]);
    assert.equal(posted.length, 0); // only the session on show, and only one this window did not have
    assert.equal(second.showSession("s2"), true);
    assert.deepEqual(posted.pop(), { type: "reset", entries: [{ kind: "user", text: "two" }] });
    second.dispose();
  });

  it("asks for the daemon's history of a session stored without its transcript", () => {
    const store = new Store();
    void store.update("codetether.chat", { current: "s9", transcripts: {} });
    const chat = new ChatView(actions, vscode.Uri.parse("file:/ext"), store);
    assert.equal(chat.pendingHistory, "s9");
    chat.loadHistory("s9", [{ session_id: "s9", seq: 0, event: { type: "user", text: "back" } }]);
    assert.equal(chat.pendingHistory, null);
    void store.update("codetether.chat", { current: "s9", transcripts: { s9: [{ kind: "user", text: "kept" }] } });
    assert.equal(new ChatView(actions, vscode.Uri.parse("file:/ext"), store).pendingHistory, null);
    chat.dispose();
  });

  it("keeps its state in a file written before update returns, the Memento answering what it lacks", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ct-state-"));
    try {
      const memento = new Store();
      void memento.update("old", { from: "memento" });
      const first = new FileState(path.join(dir, "ws"), memento);
      assert.deepEqual(first.get("old"), { from: "memento" });
      void first.update("codetether.chat", { current: "s1", transcripts: {} });
      // a new extension host reads the file, not the Memento
      const second = new FileState(path.join(dir, "ws"), new Store());
      assert.deepEqual(second.get("codetether.chat"), { current: "s1", transcripts: {} });
      assert.equal(fs.statSync(path.join(dir, "ws", "codetether-state.json")).mode & 0o777, 0o600);
      // an unreadable file starts empty; a folder that cannot be written leaves the value in the Memento
      fs.writeFileSync(path.join(dir, "ws", "codetether-state.json"), "{not json");
      assert.equal(new FileState(path.join(dir, "ws")).get("codetether.chat"), undefined);
      fs.writeFileSync(path.join(dir, "blocked"), "a file, not a folder");
      const fallback = new Store();
      const blocked = new FileState(path.join(dir, "blocked"), fallback);
      void blocked.update("k", 1);
      assert.equal(fallback.get("k"), 1);
      assert.equal(blocked.get("k"), 1);
      // a write that fails at the rename leaves no temp file behind
      fs.mkdirSync(path.join(dir, "taken", "codetether-state.json"), { recursive: true });
      const taken = new FileState(path.join(dir, "taken"), new Store());
      void taken.update("k", 2);
      assert.deepEqual(fs.readdirSync(path.join(dir, "taken")), ["codetether-state.json"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("answers the toolbar's requests and forwards its choices", async () => {
    const calls: unknown[] = [];
    const chat = new ChatView({
      ...actions,
      models: async () => ({ model: "p/a", models: ["p/a", "p/b"] }),
      setModel: async (m) => void calls.push(["setModel", m]),
      sessions: async () => [{ id: "s1", label: "first" }],
      resume: async (id) => void calls.push(["resume", id]),
    }, vscode.Uri.parse("file:/ext"));
    const { view, posted, send } = fakeView();
    chat.resolveWebviewView(view as never);
    send({ type: "models" });
    send({ type: "sessions" });
    send({ type: "setModel", model: "p/b" });
    send({ type: "resume", id: "s1" });
    send({ type: "resume", id: 5 });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(posted, [
      { type: "models", model: "p/a", models: ["p/a", "p/b"] },
      { type: "sessions", sessions: [{ id: "s1", label: "first" }], current: null },
    ]);
    assert.deepEqual(calls, [["setModel", "p/b"], ["resume", "s1"]]);
    chat.dispose();
  });
});
