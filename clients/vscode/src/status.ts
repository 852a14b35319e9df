/** The status bar item: tokens, cost and context use from `codetether/status`. */
import * as vscode from "vscode";

import { Commands, type StatusParams } from "./protocol";

/** 950 → "950", 12_345 → "12.3k", 2_500_000 → "2.5M". */
export function formatTokens(n: number): string {
  if (!Number.isFinite(n) || n < 1000) {
    return String(Math.max(0, Math.round(Number.isFinite(n) ? n : 0)));
  }
  if (n < 1_000_000) {
    return `${trim((n / 1000).toFixed(1))}k`;
  }
  return `${trim((n / 1_000_000).toFixed(1))}M`;
}

function trim(fixed: string): string {
  return fixed.endsWith(".0") ? fixed.slice(0, -2) : fixed;
}

/**
 * Cost in dollars: cents precision above a dollar, four places below. The server sends
 * text for what it prices itself: an amount ("$0.0042") is shown as is, a local model
 * ("$0 (local)") as "$0.00 (local)", and anything else (an unpriced model) as nothing:
 * "unpriced" is jargon, and an absent cost says the same (E7).
 */
export function formatCost(cost: number | string | null | undefined): string {
  if (typeof cost === "string") {
    const text = cost.trim();
    if (/\(local\)$/.test(text)) {
      return "$0.00 (local)";
    }
    return /^[<$]/.test(text) ? text : "";
  }
  if (cost === null || cost === undefined || !Number.isFinite(cost)) {
    return "";
  }
  return cost >= 1 ? `$${cost.toFixed(2)}` : `$${cost.toFixed(4)}`;
}

export type Severity = "normal" | "warning" | "error";

/** The context level the server reports (OK, LOW, MEDIUM, HIGH, CRITICAL), as a severity. */
export function severity(level: string | undefined): Severity {
  switch ((level ?? "").toLowerCase()) {
    case "medium":
    case "high":
    case "warn":
    case "warning":
      return "warning";
    case "error":
    case "critical":
    case "full":
      return "error";
    default:
      return "normal";
  }
}

/** The status bar text, e.g. `$(hubot) 12.3k↑ 450↓ $0.0123 ctx 41%`. */
export function statusText(s: StatusParams): string {
  const icon = s.busy ? "$(sync~spin)" : "$(hubot)";
  const parts = [icon, `${formatTokens(s.input_tokens)}↑ ${formatTokens(s.output_tokens)}↓`];
  const cost = formatCost(s.cost);
  if (cost) {
    parts.push(cost);
  }
  if (s.context) {
    parts.push(`ctx ${Math.round(s.context.percent)}%`);
  }
  return parts.join(" ");
}

/** The tooltip: model, session and the exact numbers. */
export function statusTooltip(s: StatusParams): string {
  const lines = [
    `codetether${s.busy ? " (working)" : ""}`,
    `model: ${s.model ?? "default"}`,
    `session: ${s.session_id ?? "none"}`,
    `tokens: ${s.input_tokens} in, ${s.output_tokens} out`,
  ];
  const cost = formatCost(s.cost);
  if (cost) {
    lines.push(`cost: ${cost}`);
  }
  if (s.context) {
    const c = s.context;
    lines.push(`context: ${c.current} / ${c.limit} tokens (${Math.round(c.percent)}%, ${c.level})`);
  }
  return lines.join("\n");
}

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor() {
    this.item = vscode.window.createStatusBarItem("codetether.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "codetether";
    this.item.command = Commands.status;
    this.item.text = "$(hubot) codetether";
    this.item.show();
  }

  update(s: StatusParams): void {
    this.item.text = statusText(s);
    this.item.tooltip = statusTooltip(s);
    const level = severity(s.context?.level);
    this.item.backgroundColor =
      level === "normal" ? undefined : new vscode.ThemeColor(`statusBarItem.${level}Background`);
  }

  /** Shown while the server is down. */
  offline(reason: string): void {
    this.item.text = "$(debug-disconnect) codetether";
    this.item.tooltip = reason;
    this.item.backgroundColor = undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
