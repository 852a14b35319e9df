import { fake } from "./fakeVscode";

import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import { Approvals } from "../src/approvals";
import { denyReasonBox, evidenceText, okrGateLabel, okrGateMessage, okrLines } from "../src/okr";
import type { ApprovalParams, OkrDraft } from "../src/protocol";

const draft: OkrDraft = {
  okr_id: "okr_1",
  run_id: "run_1",
  attempt: 1,
  title: "Ship done.txt",
  description: "a file that says it is done",
  key_results: [
    { title: "done.txt exists", target_value: 1, unit: "", metric_type: "binary", evidence: { kind: "file", path: "done.txt" } },
    {
      title: "it says done",
      target_value: 1,
      unit: "",
      metric_type: "binary",
      evidence: { kind: "command", command: "grep -q done done.txt" },
    },
  ],
};

const gate: ApprovalParams = {
  id: "g1",
  kind: "okr",
  title: "Approve objective: Ship done.txt",
  detail: "Ship done.txt\nKR1. …",
  options: ["Approve", "Deny"],
  okr: draft,
};

function recorder() {
  const sent: { command: string; args: unknown[] }[] = [];
  const execute = async <T>(command: string, args: unknown[] = []): Promise<T> => {
    sent.push({ command, args });
    return { status: "ok" } as T;
  };
  return { sent, execute };
}

describe("OKR gate formatting", () => {
  it("lists the objective and each key result with its target, metric and evidence (as the CLI does)", () => {
    assert.deepEqual(okrLines(draft), [
      "Ship done.txt",
      "a file that says it is done",
      "KR1. done.txt exists (target 1, binary) — measured by file: done.txt",
      "KR2. it says done (target 1, binary) — measured by command: grep -q done done.txt",
    ]);
  });

  it("keeps units, defaults the metric, and survives missing or odd fields", () => {
    assert.deepEqual(
      okrLines({ key_results: [{ title: "fast", target_value: 200, unit: "ms", evidence: { kind: "url", url: "http://x" } },
        { title: "asked", evidence: { kind: "question", question: "Happy?" } }, null as never] }),
      ["(untitled objective)", "KR1. fast (target 200 ms, progress) — measured by url: http://x",
        "KR2. asked — measured by question: Happy?"],
    );
    assert.equal(evidenceText({ kind: "tests" }), "tests");
    assert.equal(evidenceText(undefined), "");
  });

  it("puts the server's title in the message and the draft in the detail", () => {
    const { message, detail } = okrGateMessage(gate);
    assert.equal(message, "codetether: Approve objective: Ship done.txt");
    assert.ok(detail.startsWith("Ship done.txt\na file that says it is done\nKR1. done.txt exists"), detail);
    assert.match(detail, /KR2\. it says done \(target 1, binary\) — measured by command: grep -q done done\.txt/);
    assert.match(detail, /Deny asks for your reason/);
    assert.doesNotMatch(detail, /Draft \d/);
    assert.match(okrGateMessage({ ...gate, okr: { ...draft, attempt: 2 } }).detail, /Draft 2\. Deny/);
  });

  it("falls back to the server's detail without a draft (or a malformed one)", () => {
    const plain = { ...gate, okr: undefined, detail: " Ship it\nKR1. x \n" };
    assert.equal(okrGateMessage(plain).detail.split("\n\n")[0], "Ship it\nKR1. x");
    const odd = { ...gate, okr: { title: "x", key_results: "nope" } as unknown as OkrDraft };
    assert.equal(okrGateMessage(odd).detail.split("\n\n")[0], gate.detail);
    assert.equal(okrGateMessage({ ...gate, title: "", okr: undefined }).message, "codetether: Approve objective: (untitled)");
  });

  it("names the objective when asking for a reason and in the picker", () => {
    assert.equal(denyReasonBox(gate).title, 'Deny "Ship done.txt"');
    assert.equal(denyReasonBox({ ...gate, okr: undefined }).title, 'Deny "Ship done.txt"');
    assert.equal(okrGateLabel(gate), "$(target) Ship done.txt");
  });
});

describe("OKR gate", () => {
  beforeEach(() => fake.reset());

  it("shows the objective in a modal with Approve / Deny and approves", async () => {
    const { sent, execute } = recorder();
    const approvals = new Approvals(execute);
    fake.answers.push("Approve");
    await approvals.onApproval(gate);
    const [modal] = fake.called("showWarningMessage");
    assert.equal(modal.args[0], "codetether: Approve objective: Ship done.txt");
    assert.deepEqual(modal.args[1], { modal: true, detail: okrGateMessage(gate).detail });
    assert.deepEqual(modal.args.slice(2), ["Approve", "Deny"]);
    assert.deepEqual(sent, [{ command: "codetether.approve", args: [{ id: "g1" }] }]);
    assert.equal(approvals.pending.size, 0);
    approvals.dispose();
  });

  it("asks why on Deny and rejects with the reason; the re-draft is a new gate", async () => {
    const { sent, execute } = recorder();
    const approvals = new Approvals(execute);
    fake.answers.push("Deny", "  say which file ");
    await approvals.onApproval(gate);
    const [box] = fake.called("showInputBox");
    assert.equal((box.args[0] as { title: string }).title, 'Deny "Ship done.txt"');
    assert.deepEqual(sent, [{ command: "codetether.reject", args: [{ id: "g1", reason: "say which file" }] }]);
    fake.answers.push("Approve");
    await approvals.onApproval({ ...gate, id: "g2", title: "Approve objective: Ship it", okr: { ...draft, title: "Ship it", attempt: 2 } });
    assert.equal(fake.called("showWarningMessage")[1].args[0], "codetether: Approve objective: Ship it");
    assert.deepEqual(sent[1], { command: "codetether.approve", args: [{ id: "g2" }] });
    approvals.dispose();
  });

  it("keeps the gate pending on Escape (modal or reason) and shows it again on the command", async () => {
    const { sent, execute } = recorder();
    const approvals = new Approvals(execute);
    fake.answers.push(undefined);
    await approvals.onApproval(gate);
    fake.answers.push("Deny", undefined /* Escape in the reason box */);
    await approvals.showOkrGate();
    assert.deepEqual(sent, []);
    assert.ok(approvals.pending.has("g1"));
    assert.match(String(fake.called("showInformationMessage")[0].args[0]), /still awaits your decision/);
    fake.answers.push("Deny", "");
    await approvals.showOkrGate();
    assert.deepEqual(sent, [{ command: "codetether.reject", args: [{ id: "g1" }] }]);
    await approvals.showOkrGate();
    assert.match(String(fake.called("showInformationMessage")[1].args[0]), /no objective is awaiting/);
    approvals.dispose();
  });

  it("drops a choice made after the gate was decided elsewhere", async () => {
    const { sent, execute } = recorder();
    const approvals = new Approvals(execute);
    fake.answers.push({
      then(resolve: (v: string) => void) {
        void approvals.onResolved({ id: "g1", status: "allow", by: "cli" }).then(() => resolve("Deny"));
      },
    });
    await approvals.onApproval(gate);
    assert.deepEqual(sent, []);
    assert.equal(fake.called("showInputBox").length, 0);
    approvals.dispose();
  });
});
