import "./fakeVscode";

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ClientCapabilities, LanguageClient } from "vscode-languageclient/node";

import { ApprovalsFeature, CodetetherLanguageClient } from "../src/client";

type Feature = { registrationType?: { method: string }; fillClientCapabilities(c: ClientCapabilities): void };

function features(client: LanguageClient): Feature[] {
  return (client as unknown as { _features: Feature[] })._features;
}

function methods(client: LanguageClient): string[] {
  return features(client).flatMap((f) => (f.registrationType ? [f.registrationType.method] : []));
}

describe("language client", () => {
  it("declares experimental.codetether approvals and saveDocuments (E6), keeping other experimental capabilities", () => {
    const caps: ClientCapabilities = { experimental: { other: 1, codetether: { x: 2 } } };
    new ApprovalsFeature().fillClientCapabilities(caps);
    assert.deepEqual(caps.experimental, { other: 1, codetether: { x: 2, approvals: true, saveDocuments: true } });
  });

  it("sends the approvals capability in initialize and leaves server commands to commands.ts", () => {
    const client = new CodetetherLanguageClient("codetether", "codetether", { command: "x" }, {});
    client.registerFeature(new ApprovalsFeature());
    const caps: ClientCapabilities = {};
    for (const f of features(client)) f.fillClientCapabilities(caps);
    assert.deepEqual(caps.experimental, { codetether: { approvals: true, saveDocuments: true } });
    assert.ok(!methods(client).includes("workspace/executeCommand"));
    assert.ok(methods(client).includes("textDocument/didOpen"), "other features stay");
    assert.ok(methods(client).includes("textDocument/codeAction"), "proposal code actions stay");
  });

  it("would otherwise register a VS Code command per server command", () => {
    const plain = new LanguageClient("plain", "plain", { command: "x" }, {});
    assert.ok(methods(plain).includes("workspace/executeCommand"));
  });
});
