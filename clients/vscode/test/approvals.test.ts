import { fake } from "./fakeVscode";

import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import { approvalMessage, Approvals, pendingLabel, proposalMessage, proposalUri } from "../src/approvals";
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
  it("names the kind and trims the detail", () => {
    assert.deepEqual(approvalMessage(toolApproval), {
      message: "codetether wants approval (tool): bash: rm -rf build",
      detail: "The agent wants to run a shell command.",
    });
    assert.equal(approvalMessage({ ...toolApproval, kind: "okr", title: " " }).message,
      "codetether wants approval (OKR): OKR approval");
  });

  it("lists a proposal's files by name", () => {
    assert.equal(proposalMessage(proposal), "codetether proposes an edit (edit) to a.txt.");
    const many = { ...proposal, files: ["a", "b", "c", "d", "e"].map((n) => ({ ...proposal.files[0], path: `/ws/${n}.py` })) };
    assert.equal(proposalMessage(many), "codetether proposes an edit (edit) to a.py, b.py, c.py and 2 more.");
    assert.match(pendingLabel({ kind: "proposal", params: proposal }), /^\$\(diff\) /);
    assert.match(pendingLabel({ kind: "approval", params: toolApproval }), /^\$\(shield\) /);
  });

  it("builds distinct virtual URIs per proposal and side", () => {
    assert.equal(proposalUri("p/1", "original", "/ws/a.txt").toString(), "codetether-proposal:/p%2F1/original/ws/a.txt");
    assert.equal(proposalUri("p1", "proposed", "a.txt").toString(), "codetether-proposal:/p1/proposed/a.txt");
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
      "codetether wants approval (tool): bash: rm -rf build",
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
    sent.length = 0;
    await approvals.onApproval({ ...toolApproval, id: "a2" });
    assert.deepEqual(sent, []);
    assert.ok(approvals.pending.has("a2"));
    // a1 stays pending too until the server says it is resolved: the pick offers both
    fake.answers.push({ id: "a2", label: "" });
    assert.equal(await approvals.pick("which?"), "a2");
    assert.equal((fake.called("showQuickPick")[0].args[0] as unknown[]).length, 2);
    approvals.onResolved({ id: "a2", status: "approved" });
    approvals.onResolved({ id: "a1", status: "rejected" });
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

  it("opens the diff of a proposal and applies it", async () => {
    const { sent, execute } = recorder();
    const approvals = new Approvals(execute);
    fake.answers.push(undefined /* vscode.diff */, "Apply");
    await approvals.onProposal(proposal);
    const [open] = fake.called("executeCommand");
    assert.equal(open.args[0], "vscode.diff");
    const [left, right] = open.args.slice(1, 3) as { toString(): string }[];
    assert.equal(approvals.provideTextDocumentContent(left as never), "hello\n");
    assert.equal(approvals.provideTextDocumentContent(right as never), "goodbye\n");
    assert.deepEqual(fake.called("showInformationMessage")[0].args, [
      "codetether proposes an edit (edit) to a.txt.", "Apply", "Reject",
    ]);
    assert.deepEqual(sent, [
      { command: "codetether.showDiff", args: [{ id: "p1" }] },
      { command: "codetether.approve", args: [{ id: "p1" }] },
    ]);
    approvals.onResolved({ id: "p1", status: "applied" });
    assert.equal(approvals.provideTextDocumentContent(right as never), "");
    approvals.dispose();
  });

  it("does not decide a proposal resolved elsewhere meanwhile", async () => {
    const { sent, execute } = recorder();
    const approvals = new Approvals(execute);
    fake.answers.push(undefined /* vscode.diff */, "Reject");
    const shown = approvals.onProposal(proposal);
    approvals.onResolved({ id: "p1", status: "applied" });
    await shown;
    assert.deepEqual(sent.map((s) => s.command), ["codetether.showDiff"]);
    approvals.dispose();
  });
});
