/**
 * End to end against the real language server and daemon: a scripted model streams
 * chat text; an agent `edit` becomes a proposal applied through `workspace/applyEdit`.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";

import type { EventParams, ProposalParams, ResolvedParams, ShowDiffResult } from "../src/protocol";
import { applyTextEdits, Editor, Home } from "./lspHarness";
import { python, REPO } from "./paths";

/** Why the server cannot run here, or undefined when it can. */
function unavailable(): string | undefined {
  if (!existsSync(path.join(REPO, "lsp", "server.py"))) {
    return "lsp/server.py does not exist yet (the language server is being built)";
  }
  const probe = spawnSync(python(), ["-c", "import codetether.lsp.server"], { encoding: "utf8" });
  if (probe.status !== 0) {
    return `cannot import codetether.lsp.server with ${python()}: ${probe.stderr.trim().split("\n").pop()}`;
  }
  return undefined;
}

const skip = unavailable();

function isDone(p: EventParams): boolean {
  return p.event.type === "done";
}

function streamedText(editor: Editor, sessionId: string): string {
  return editor.notifications
    .filter((n) => n.method === "codetether/event")
    .map((n) => n.params as EventParams)
    .filter((p) => p.session_id === sessionId && p.event.type === "text")
    .sort((a, b) => a.seq - b.seq)
    .map((p) => String(p.event.text))
    .join("");
}

describe("applyTextEdits (the harness's editor)", () => {
  it("replaces line ranges as an editor does", () => {
    const edit = { range: { start: { line: 1, character: 0 }, end: { line: 2, character: 0 } }, newText: "B\n" };
    assert.equal(applyTextEdits("a\nb\nc\n", [edit]), "a\nB\nc\n");
  });
});

describe("codetether lsp (real server, scripted model)", { skip, timeout: 120_000 }, () => {
  describe("chat", () => {
    let home: Home;
    let editor: Editor;

    before(async () => {
      home = new Home([{ text: "Hello from the agent." }]);
      editor = await Editor.start(home, { codetetherHome: home.root });
    });

    after(async () => {
      await editor?.stop();
      assert.equal(await home?.cleanup(), false, "codetether daemon stop left the daemon running");
    });

    it("streams the answer as codetether/event until done", async () => {
      const file = home.file("a.txt", "hello world\n");
      await editor.open(file.uri, "hello world\n");
      const { session_id } = await editor.execute<{ session_id: string }>("codetether.chat", [{ text: "Say hello" }]);
      assert.equal(typeof session_id, "string");
      assert.ok(home.daemonPid(), "the server started a daemon in codetetherHome");
      const done = await editor.next<EventParams>("codetether/event", (p) => p.session_id === session_id && isDone(p));
      assert.equal(done.event.stop_reason, "end_turn");
      assert.equal(streamedText(editor, session_id), "Hello from the agent.");
    });

    it("reports status with the session's usage", async () => {
      const status = await editor.execute<Record<string, unknown>>("codetether.status");
      assert.equal(typeof status.session_id, "string");
      assert.equal(typeof status.input_tokens, "number");
      assert.equal(typeof status.output_tokens, "number");
    });
  });

  describe("edit proposal", () => {
    let home: Home;
    let editor: Editor;
    const original = "hello world\nsecond line\n";

    before(async () => {
      home = new Home([
        { tool: "edit", arguments: { path: "a.txt", old_string: "hello world", new_string: "goodbye world" } },
        { text: "Edited." },
      ]);
      editor = await Editor.start(home, { codetetherHome: home.root });
    });

    after(async () => {
      await editor?.stop();
      assert.equal(await home?.cleanup(), false, "codetether daemon stop left the daemon running");
    });

    it("proposes, shows the diff, applies through workspace/applyEdit on approve", async () => {
      const file = home.file("a.txt", original);
      await editor.open(file.uri, original);
      const { session_id } = await editor.execute<{ session_id: string }>("codetether.chat", [
        { text: "Say goodbye in a.txt" },
      ]);

      const proposal = await editor.next<ProposalParams>("codetether/proposal");
      assert.equal(proposal.tool, "edit");
      assert.equal(proposal.files.length, 1);
      assert.equal(proposal.files[0].uri, file.uri);
      assert.match(proposal.files[0].diff, /-hello world/);
      assert.match(proposal.files[0].diff, /\+goodbye world/);
      assert.equal(readFileSync(file.path, "utf8"), original, "a proposal is never written directly");

      const diff = await editor.execute<ShowDiffResult>("codetether.showDiff", [{ id: proposal.id }]);
      assert.equal(diff.files[0].original, original);
      assert.equal(diff.files[0].proposed, "goodbye world\nsecond line\n");

      const result = await editor.execute<{ status: string }>("codetether.approve", [{ id: proposal.id }]);
      assert.equal(typeof result.status, "string");
      assert.equal(editor.applied.length, 1, "one workspace/applyEdit");
      assert.equal(editor.docs.get(file.uri)?.text, "goodbye world\nsecond line\n");

      const resolved = await editor.next<ResolvedParams>("codetether/resolved", (p) => p.id === proposal.id);
      assert.ok(resolved.status);
      await editor.next<EventParams>("codetether/event", (p) => p.session_id === session_id && isDone(p));
      assert.equal(streamedText(editor, session_id), "Edited.");
    });
  });
});
