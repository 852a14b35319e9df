/**
 * The chat webview's script (bundled into dist/webview.js). It folds the session events the
 * extension posts with the same `applyEvent` the extension uses, renders each entry (Markdown
 * sanitized, tool calls as collapsible cards), and keeps its entries with `setState` so a
 * re-created view shows them before the extension's copy arrives.
 */
import { applyEvent, argsSummary, type ChatEntry, type ToolEntry, type TranscriptEvent, validEntries } from "../transcript";
import { renderDiff, renderMarkdown } from "./markdown";
import { sanitize } from "./sanitize";

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const log = byId<HTMLDivElement>("log");
const input = byId<HTMLTextAreaElement>("t");
const modelSelect = byId<HTMLSelectElement>("model");
const sessionSelect = byId<HTMLSelectElement>("sessions");

let entries: ChatEntry[] = [];
let nodes: HTMLElement[] = [];
const dirty = new Set<number>();
let flushing = false;
let saving = false;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function pre(cls: string, text: string): HTMLPreElement {
  return el("pre", cls, text);
}

function prettyArgs(args: string): string {
  try {
    return JSON.stringify(JSON.parse(args), null, 2);
  } catch {
    return args;
  }
}

/** A tool call's card: a <details> whose summary names the call and its state. */
function toolCard(entry: ToolEntry, wasOpen: boolean | undefined): HTMLElement {
  const state = entry.result === undefined ? "running" : entry.isError ? "error" : "ok";
  const card = el("details", `tool ${state}`);
  card.dataset.callId = entry.id;
  card.open = wasOpen ?? state === "error";
  const summary = el("summary");
  summary.append(
    el("span", "state", state === "running" ? "⋯" : state === "error" ? "✗" : "✓"),
    el("span", "name", entry.name),
    el("span", "args", argsSummary(entry.args)),
  );
  card.append(summary);
  if (entry.args) card.append(el("div", "label", "arguments"), pre("arguments", prettyArgs(entry.args)));
  if (entry.output) card.append(el("div", "label", "output"), pre("output", entry.output));
  if (entry.result !== undefined && entry.result !== entry.output) {
    card.append(el("div", "label", entry.isError ? "error" : "result"), pre("result", entry.result));
  }
  for (const change of entry.changes ?? []) {
    const box = el("div", "change");
    box.append(el("div", "path", `${change.kind} ${change.path}`));
    if (change.diff) {
      const code = el("code", "hljs language-diff");
      code.innerHTML = sanitize(renderDiff(change.diff));
      const block = el("pre", "diff");
      block.append(code);
      box.append(block);
    }
    card.append(box);
  }
  return card;
}

function render(entry: ChatEntry, old: HTMLElement | undefined): HTMLElement {
  switch (entry.kind) {
    case "tool":
      return toolCard(entry, old instanceof HTMLDetailsElement ? old.open : undefined);
    case "text": {
      const node = el("div", "text markdown");
      node.innerHTML = sanitize(renderMarkdown(entry.text));
      return node;
    }
    case "thinking": {
      const node = el("details", "thinking");
      node.open = old instanceof HTMLDetailsElement ? old.open : false;
      node.append(el("summary", undefined, "Thinking"), el("div", "body", entry.text));
      return node;
    }
    default:
      return el("div", entry.kind, entry.text);
  }
}

/** Re-renders changed entries, batched: text streams in small chunks (a timer: frames stop while hidden). */
function flush(): void {
  flushing = false;
  const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 20;
  for (const i of [...dirty].sort((a, b) => a - b)) {
    const entry = entries[i];
    if (entry === undefined) continue;
    const node = render(entry, nodes[i]);
    if (nodes[i]) nodes[i].replaceWith(node);
    else log.append(node);
    nodes[i] = node;
  }
  dirty.clear();
  if (stick) log.scrollTop = log.scrollHeight;
}

function markDirty(i: number): void {
  dirty.add(i);
  if (!flushing) {
    flushing = true;
    setTimeout(flush, 30);
  }
}

function resetTo(list: ChatEntry[]): void {
  entries = list;
  nodes = [];
  dirty.clear();
  log.textContent = "";
  entries.forEach((_, i) => dirty.add(i));
  flush();
}

function save(): void {
  if (!saving) {
    saving = true;
    setTimeout(() => {
      saving = false;
      vscode.setState({ entries });
    }, 100);
  }
}

function fillSelect(select: HTMLSelectElement, placeholder: string, items: { value: string; label: string; title?: string }[], current?: string | null): void {
  select.textContent = "";
  select.append(new Option(placeholder, ""));
  for (const item of items) {
    const option = new Option(item.label, item.value, false, item.value === current);
    if (item.title) option.title = item.title;
    select.append(option);
  }
}

function onMessage(m: Record<string, unknown>): void {
  switch (m.type) {
    case "reset":
      resetTo(validEntries(m.entries));
      save();
      vscode.postMessage({ type: "sessions" });
      break;
    case "event": {
      const event = m.event as TranscriptEvent;
      const change = applyEvent(entries, event);
      if (change?.trimmed) {
        resetTo(entries);
      } else if (change) {
        markDirty(change.index);
      }
      save();
      if (event.type === "done") vscode.postMessage({ type: "sessions" });
      break;
    }
    case "models": {
      const models = Array.isArray(m.models) ? m.models.filter((x): x is string => typeof x === "string") : [];
      const current = typeof m.model === "string" ? m.model : null;
      fillSelect(modelSelect, current ? "model…" : "model: default", models.map((id) => ({ value: id, label: id })), current);
      modelSelect.dataset.loaded = "true";
      break;
    }
    case "sessions": {
      const list = Array.isArray(m.sessions) ? (m.sessions as { id?: unknown; label?: unknown; description?: unknown }[]) : [];
      fillSelect(sessionSelect, "sessions…", list
        .filter((s) => typeof s.id === "string" && s.id)
        .map((s) => ({ value: String(s.id), label: typeof s.label === "string" ? s.label : String(s.id),
          title: typeof s.description === "string" ? s.description : undefined })));
      sessionSelect.value = "";
      sessionSelect.dataset.loaded = "true";
      break;
    }
  }
}

resetTo(validEntries((vscode.getState() as { entries?: unknown } | undefined)?.entries));
window.addEventListener("message", (ev: MessageEvent<Record<string, unknown>>) => onMessage(ev.data));

function send(): void {
  const text = input.value.trim();
  if (text) {
    vscode.postMessage({ type: "send", text });
    input.value = "";
  }
}
byId<HTMLFormElement>("f").addEventListener("submit", (ev) => {
  ev.preventDefault();
  send();
});
input.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    send();
  }
});
byId("c").addEventListener("click", () => vscode.postMessage({ type: "cancel" }));
byId("n").addEventListener("click", () => vscode.postMessage({ type: "newSession" }));
modelSelect.addEventListener("focus", () => vscode.postMessage({ type: "models" }));
modelSelect.addEventListener("change", () => {
  if (modelSelect.value) vscode.postMessage({ type: "setModel", model: modelSelect.value });
});
sessionSelect.addEventListener("focus", () => vscode.postMessage({ type: "sessions" }));
sessionSelect.addEventListener("change", () => {
  const id = sessionSelect.value;
  if (id) vscode.postMessage({ type: "resume", id });
});
vscode.postMessage({ type: "ready" });
vscode.postMessage({ type: "models" });
