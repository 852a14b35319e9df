import { fake } from "./fakeVscode";

import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import { approvalMessage, Approvals, pendingLabel, proposalIdOf, proposalMessage, proposalUri } from "../src/approvals";
import type { ApprovalParams, ProposalParams, ShowDiffResult } from "../src/protocol";

const toolApproval: ApprovalParams = {
  id: "a1",
  kind: "tool",
  title: "bash: rm -rf build",
  detail: "  The agent wants to run a shell command.\n",
};

const proposal: ProposalParams = {
  id: "p1",
  tool: "edit",
  files: [{ uri: "file:///ws/a.txt", path: "/ws/a.txt", diff: "-hello\n+goodbye\n", version: 1 }],
};

const diff: ShowDiffResult = {
  id: "p1",
  files: [{ uri: "file:///ws/a.txt", path: "/ws/a.txt", original: "hello\n", proposed: "goodbye\n", diff: "" }],
};

/** A fake server: records commands, answers showDiff. */
function recorder() {
  const sent: { command: string; args: unknown[] }[] = [];
  const execute = async <T>(command: string, args: unknown[] = []): Promise<T> => {
    sent.push({ command, args });
    return (command === "codetether.showDiff" ? diff : { status: "ok" }) as T;
  };
  return { sent, execute };
}

describe("approval formatting", () => {
  it("asks the server's question without a kind tag (E7) and trims the detail", () => {
    assert.deepEqual(approvalMessage(toolApproval), {
      message: "codetether: bash: rm -rf build",
      detail: "The agent wants to run a shell command.",
    });
    assert.equal(approvalMessage({ ...toolApproval, kind: "okr", title: " " }).message,
      "codetether: Approve this OKR?");
  });

  it("lists a proposal's files by name", () => {
    assert.equal(proposalMessage(proposal), "codetether wants to change a.txt.");
    const many = { ...proposal, files: ["a", "b", "c", "d", "e"].map((n) => ({ ...proposal.files[0], path: `/ws/${n}.py` })) };
    assert.equal(proposalMessage(many), "codetether wants to change a.py, b.py, c.py and 2 more.");
    assert.match(pendingLabel({ kind: "proposal", params: proposal }), /^\$\(diff\) /);
    assert.match(pendingLabel({ kind: "approval", params: toolApproval }), /^\$\(shield\) /);
  });

  it("builds distinct virtual URIs per proposal and side", () => {
    assert.equal(proposalUri("p/1", "original", "/ws/a.txt").toString(), "codetether-proposal:/p%2F1/original/ws/a.txt");
    assert.equal(proposalUri("p1", "proposed", "a.txt").toString(), "codetether-proposal:/p1/proposed/a.txt");
  });

  it("reads the proposal id back from a diff side (the diff's Apply / Reject buttons)", () => {
    assert.equal(proposalIdOf(proposalUri("p/1", "proposed", "/ws/a.txt")), "p/1");
    assert.equal(proposalIdOf({ scheme: "file", path: "/p1/proposed/a.txt" }), undefined);
  });

  it("shows the workspace-relative path of a proposal (E7)", () => {
    const p = { ...proposal, files: [{ ...proposal.files[0], path: "/ws/src/a.txt", rel: "src/a.txt" }] };
    assert.equal(proposalMessage(p), "codetether wants to change src/a.txt.");
  });
});

describe("Approvals", () => {
  beforeEach(() => fake.reset());

  it("asks with a modal and approves on Allow", async () => {
    const { sent, execute } = recorder();
    const approvals = new Approvals(execute);
    fake.answers.push("Allow");
    await approvals.onApproval(toolApproval);
    const [modal] = fake.called("showWarningMessage");
    assert.deepEqual(modal.args, [
      "codetether: bash: rm -rf build",
      { modal: true, detail: "The agent wants to run a shell command." },
      "Allow",
      "Deny",
    ]);
    assert.deepEqual(sent, [{ command: "codetether.approve", args: [{ id: "a1" }] }]);
    approvals.dispose();
  });

  it("rejects on Deny and leaves a dismissed approval pending", async () => {
    const { sent, execute } = recorder();
    const approvals = new Approvals(execute);
    fake.answers.push("Deny");
    await approvals.onApproval(toolApproval);
    assert.deepEqual(sent, [{ command: "codetether.reject", args: [{ id: "a1" }] }]);
    assert.ok(!approvals.pending.has("a1")); // decided here: forgotten without waiting for the server
    sent.length = 0;
    await approvals.onApproval({ ...toolApproval, id: "a2" });
    await approvals.onApproval({ ...toolApproval, id: "a3" });
    assert.deepEqual(sent, []);
    assert.ok(approvals.pending.has("a2"));
    fake.answers.push({ id: "a2", label: "" });
    assert.equal(await approvals.pick("which?"), "a2");
    assert.equal((fake.called("showQuickPick")[0].args[0] as unknown[]).length, 2);
    await approvals.onResolved({ id: "a2", status: "allow" });
    await approvals.onResolved({ id: "a3", status: "deny" });
    assert.equal(approvals.pending.size, 0);
    approvals.dispose();
  });

  it("answers questions from their options", async () => {
    const { sent, execute } = recorder();
    const approvals = new Approvals(execute);
    fake.answers.push("yes");
    await approvals.onApproval({ id: "q1", kind: "question", title: "Proceed?", detail: "", options: ["yes", "no"] });
    assert.deepEqual(fake.called("showQuickPick")[0].args[0], ["yes", "no"]);
    assert.deepEqual(sent, [{ command: "codetether.answer", args: [{ id: "q1", answer: "yes" }] }]);
    approvals.dispose();
  });

  it("leaves edit approvals to the proposal's diff", async () => {
    const { sent, execute } = recorder();
    const approvals = new Approvals(execute);
    await approvals.onApproval({ ...toolApproval, id: "p1", kind: "edit" });
    assert.equal(fake.called("showWarningMessage").length, 0);
    assert.deepEqual(sent, []);
    approvals.dispose();
  });

  it("opens the diff of a proposal, applies it, then closes the diff", async () => {
    const { sent, execute } = recorder();
    const approvals = new Approvals(execute);
    const right = proposalUri("p1", "proposed", "/ws/a.txt");
    let shown: string[] = [];
    fake.answers.push(undefined /* vscode.diff */, {
      then(resolve: (v: string) => void) {
        // read while the toast is up: the diff's documents are there
        shown = [approvals.provideTextDocumentContent(proposalUri("p1", "original", "/ws/a.txt")),
          approvals.provideTextDocumentContent(right)];
        resolve("Apply");
      },
    });
    fake.tabs.push({ label: "a.txt ↔ agent edit", input: { modified: right } });
    fake.tabs.push({ label: "mine.py", input: { uri: { scheme: "file", path: "/ws/mine.py" } } });
    await approvals.onProposal(proposal);
    const [open] = fake.called("executeCommand");
    assert.equal(open.args[0], "vscode.diff");
    assert.equal(String(open.args[2]), String(right));
    // E3: never a preview tab, which would replace the user's own preview tab
    assert.deepEqual(open.args[4], { preview: false });
    assert.deepEqual(shown, ["hello\n", "goodbye\n"]);
    assert.deepEqual(fake.called("showInformationMessage")[0].args, ["codetether wants to change a.txt.", "Apply", "Reject"]);
    assert.deepEqual(sent, [
      { command: "codetether.showDiff", args: [{ id: "p1" }] },
      { command: "codetether.approve", args: [{ id: "p1" }] },
    ]);
    // E3: once applied the diff tab goes (the user's tab stays), its documents are dropped,
    // and the toast, settled by the click, is not hidden again
    assert.deepEqual(fake.tabs.map((t) => t.label), ["mine.py"]);
    assert.equal(approvals.provideTextDocumentContent(right), "");
    assert.equal(fake.called("executeCommand").length, 1);
    await approvals.onResolved({ id: "p1", status: "allow" }); // the server's word, later: harmless
    approvals.dispose();
  });

  // E3, S6: decided by the code action or withdrawn (run cancelled) while the toast is up
  for (const status of ["rejected", "withdrawn"]) {
    it(`closes the toast and the diff of a proposal ${status} elsewhere`, async () => {
      const { sent, execute } = recorder();
      const approvals = new Approvals(execute);
      let answer: (choice: string | undefined) => void = () => undefined;
      fake.answers.push(undefined /* vscode.diff */, new Promise((resolve) => (answer = resolve)));
      const shown = approvals.onProposal(proposal);
      while (fake.called("showInformationMessage").length === 0) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      const right = fake.called("executeCommand")[0].args[2];
      fake.tabs.push({ label: "a.txt ↔ agent edit", input: { modified: right } });
      await approvals.onResolved({ id: "p1", status });
      assert.deepEqual(fake.called("executeCommand").map((c) => c.args[0]), ["vscode.diff", "notifications.hideToasts"]);
      assert.deepEqual(fake.tabs, []);
      answer("Apply"); // a late click in the notification centre decides nothing
      await shown;
      assert.deepEqual(sent.map((s) => s.command), ["codetether.showDiff"]);
      approvals.dispose();
    });
  }

  it("does not decide a proposal resolved elsewhere meanwhile", async () => {
    const { sent, execute } = recorder();
    const approvals = new Approvals(execute);
    fake.answers.push(undefined /* vscode.diff */, "Reject");
    const shown = approvals.onProposal(proposal);
    await approvals.onResolved({ id: "p1", status: "applied" });
    await shown;
    assert.deepEqual(sent.map((s) => s.command), ["codetether.showDiff"]);
    approvals.dispose();
  });
});
