import { fake } from "./fakeVscode";

import assert from "node:assert/strict";
import { beforeEach, describe, it } from "node:test";

import type { StatusParams } from "../src/protocol";
import { formatCost, formatTokens, severity, StatusBar, statusText, statusTooltip } from "../src/status";

const base: StatusParams = {
  session_id: "s1",
  model: "scripted/scripted",
  busy: false,
  input_tokens: 12_345,
  output_tokens: 450,
  cost: 0.01234,
  context: { current: 13_000, limit: 32_768, percent: 39.7, level: "ok" },
};

describe("status formatting", () => {
  it("abbreviates token counts", () => {
    assert.equal(formatTokens(0), "0");
    assert.equal(formatTokens(950), "950");
    assert.equal(formatTokens(1000), "1k");
    assert.equal(formatTokens(12_345), "12.3k");
    assert.equal(formatTokens(2_500_000), "2.5M");
    assert.equal(formatTokens(Number.NaN), "0");
  });

  it("formats cost with precision that fits its size", () => {
    assert.equal(formatCost(0.01234), "$0.0123");
    assert.equal(formatCost(3.456), "$3.46");
    assert.equal(formatCost(0), "$0.0000");
    assert.equal(formatCost(null), "");
    assert.equal(formatCost(""), "");
    assert.equal(formatCost("$0.02"), "$0.02");
    assert.equal(formatCost("< $0.0001"), "< $0.0001");
  });

  // E7: no "unpriced" jargon; a local model costs "$0.00 (local)"
  it("shows no cost for an unpriced model and $0.00 for a local one", () => {
    assert.equal(formatCost("unpriced"), "");
    assert.equal(formatCost("$0 (local)"), "$0.00 (local)");
    assert.equal(statusText({ ...base, cost: "unpriced" }), "$(hubot) 12.3k↑ 450↓ ctx 40%");
    assert.doesNotMatch(statusTooltip({ ...base, cost: "unpriced" }), /unpriced/);
    assert.equal(statusText({ ...base, cost: "$0 (local)", context: null }), "$(hubot) 12.3k↑ 450↓ $0.00 (local)");
  });

  it("builds the status bar text", () => {
    assert.equal(statusText(base), "$(hubot) 12.3k↑ 450↓ $0.0123 ctx 40%");
    assert.equal(statusText({ ...base, busy: true, cost: null, context: null }), "$(sync~spin) 12.3k↑ 450↓");
  });

  it("puts exact numbers in the tooltip", () => {
    const tip = statusTooltip(base);
    assert.match(tip, /model: scripted\/scripted/);
    assert.match(tip, /tokens: 12345 in, 450 out/);
    assert.match(tip, /context: 13000 \/ 32768 tokens \(40%, ok\)/);
  });

  it("maps context levels to severities", () => {
    assert.equal(severity("ok"), "normal");
    assert.equal(severity(undefined), "normal");
    assert.equal(severity("LOW"), "normal");
    assert.equal(severity("MEDIUM"), "warning");
    assert.equal(severity("HIGH"), "warning");
    assert.equal(severity("CRITICAL"), "error");
  });
});

describe("StatusBar", () => {
  beforeEach(() => fake.reset());

  it("shows, updates and colours the item", () => {
    const bar = new StatusBar();
    const item = fake.statusItems[0];
    assert.ok(item.visible);
    assert.equal(item.command, "codetether.status");
    bar.update(base);
    assert.equal(item.text, statusText(base));
    assert.equal(item.backgroundColor, undefined);
    bar.update({ ...base, context: { ...base.context!, level: "warning" } });
    assert.equal((item.backgroundColor as { id: string } | undefined)?.id, "statusBarItem.warningBackground");
    bar.offline("down");
    assert.equal(item.tooltip, "down");
    bar.dispose();
    assert.ok(!item.visible);
  });
});
