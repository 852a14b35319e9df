/**
 * The chat view: a webview in the activity bar that streams `codetether/event` text
 * and sends prompts through `codetether.chat`.
 *
 * The transcript survives the view being hidden (the sidebar switched to Explorer) and
 * re-created (E2): the webview keeps its context while hidden, saves its entries with
 * `setState` for when it is re-created, and the extension's copy (the truth) is posted
 * only once the webview's script says it is listening (`ready`): a message posted
 * before that is lost.
 */
import * as vscode from "vscode";

import type { EventParams, SessionEvent } from "./protocol";

/** One piece of the transcript, as the webview renders it. */
export interface ChatEntry {
  kind: "user" | "text" | "thinking" | "tool" | "error" | "done";
  text: string;
}

/** Keeps the transcript bounded; the daemon's event stream keeps the full history. */
const MAX_ENTRIES = 2000;

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** The transcript entry for a session event, or undefined for events the chat does not show. */
export function chatEntry(event: SessionEvent): ChatEntry | undefined {
  switch (event.type) {
    case "user":
      return { kind: "user", text: str(event.text) };
    case "text":
      return { kind: "text", text: str(event.text) };
    case "thinking":
      return { kind: "thinking", text: str(event.text) };
    case "tool_call_start":
      return { kind: "tool", text: `⚙ ${str(event.name)}` };
    case "tool_call_end":
      return event.is_error === true
        ? { kind: "error", text: `✗ ${str(event.name)}: ${str(event.output).slice(0, 500)}` }
        : undefined;
    case "error":
      return { kind: "error", text: `error: ${str(event.message)}` };
    case "done": {
      const reason = str(event.stop_reason);
      return { kind: "done", text: reason && reason !== "end_turn" ? `(${reason})` : "" };
    }
    default:
      return undefined;
  }
}

/** Appends an entry, merging a streamed chunk into the previous one of its kind. */
export function appendEntry(entries: ChatEntry[], entry: ChatEntry): void {
  const last = entries[entries.length - 1];
  if (last && last.kind === entry.kind && (entry.kind === "text" || entry.kind === "thinking")) {
    last.text += entry.text;
  } else {
    entries.push({ ...entry });
  }
  if (entries.length > MAX_ENTRIES) {
    entries.splice(0, entries.length - MAX_ENTRIES);
  }
}

export interface ChatActions {
  send(text: string): Promise<void>;
  cancel(): Promise<void>;
  newSession(): Promise<void>;
}

export class ChatView implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewId = "codetether.chat";
  private view: vscode.WebviewView | undefined;
  private readonly entries: ChatEntry[] = [];
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly actions: ChatActions) {
    this.disposables.push(
      vscode.window.registerWebviewViewProvider(ChatView.viewId, this, {
        webviewOptions: { retainContextWhenHidden: true },
      }),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = { enableScripts: true };
    view.webview.html = html(nonce());
    view.webview.onDidReceiveMessage(
      (msg: { type?: string; text?: string }) => this.onMessage(msg),
      undefined,
      this.disposables,
    );
    view.onDidDispose(() => (this.view = undefined), undefined, this.disposables);
  }

  onEvent(params: EventParams): void {
    const entry = chatEntry(params.event);
    if (entry === undefined) {
      return;
    }
    appendEntry(this.entries, entry);
    void this.view?.webview.postMessage({ type: "append", entry });
  }

  clear(): void {
    this.entries.length = 0;
    void this.view?.webview.postMessage({ type: "reset", entries: [] });
  }

  private onMessage(msg: { type?: string; text?: string }): void {
    if (msg.type === "ready") {
      void this.view?.webview.postMessage({ type: "reset", entries: this.entries });
      return;
    }
    const act =
      msg.type === "send" && msg.text?.trim()
        ? this.actions.send(msg.text.trim())
        : msg.type === "cancel"
          ? this.actions.cancel()
          : msg.type === "newSession"
            ? this.actions.newSession()
            : undefined;
    act?.catch((err: unknown) => {
      void vscode.window.showErrorMessage(`codetether: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) {
      d.dispose();
    }
  }
}

function nonce(): string {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let out = "";
  for (let i = 0; i < 32; i++) {
    out += chars.charAt(Math.floor(Math.random() * chars.length));
  }
  return out;
}

function html(n: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-${n}'; script-src 'nonce-${n}';">
<style nonce="${n}">
body { padding: 0 8px; display: flex; flex-direction: column; height: 100vh; box-sizing: border-box; }
#log { flex: 1; overflow-y: auto; white-space: pre-wrap; font-family: var(--vscode-editor-font-family); }
.user { margin-top: 1em; font-weight: bold; }
.thinking { opacity: .6; font-style: italic; }
.tool { color: var(--vscode-descriptionForeground); }
.error { color: var(--vscode-errorForeground); }
.done { color: var(--vscode-descriptionForeground); margin-bottom: .5em; }
form { display: flex; gap: 4px; padding: 6px 0; }
textarea { flex: 1; resize: vertical; color: var(--vscode-input-foreground); background: var(--vscode-input-background); border: 1px solid var(--vscode-input-border, transparent); }
button { color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: none; padding: 2px 8px; }
</style></head>
<body><div id="log"></div>
<form id="f"><textarea id="t" rows="3" placeholder="Ask codetether… (Ctrl+Enter to send)"></textarea>
<div><button type="submit">Send</button><br><button type="button" id="c">Stop</button><br><button type="button" id="n">New</button></div></form>
<script nonce="${n}">
const vscode = acquireVsCodeApi();
const log = document.getElementById("log"), t = document.getElementById("t");
let last = null, entries = [];
function add(e) {
  if (last && last.kind === e.kind && (e.kind === "text" || e.kind === "thinking")) {
    last.node.textContent += e.text; last.entry.text += e.text;
  } else {
    const node = document.createElement("div"), entry = { kind: e.kind, text: e.text };
    node.className = e.kind; node.textContent = e.text; log.appendChild(node);
    entries.push(entry); last = { kind: e.kind, node, entry };
    if (entries.length > ${MAX_ENTRIES}) { entries.shift(); log.firstChild.remove(); }
  }
  log.scrollTop = log.scrollHeight;
}
function reset(list) { log.textContent = ""; last = null; entries = []; list.forEach(add); }
let saving = false;
function save() {  // batched: text streams in small chunks (a timer, as frames stop while hidden)
  if (!saving) { saving = true; setTimeout(() => { saving = false; vscode.setState({ entries }); }, 50); }
}
reset((vscode.getState() || {}).entries || []);
window.addEventListener("message", (ev) => {
  const m = ev.data;
  if (m.type === "reset") { reset(m.entries); save(); }
  else if (m.type === "append") { add(m.entry); save(); }
});
function send() { const text = t.value.trim(); if (text) { vscode.postMessage({ type: "send", text }); t.value = ""; } }
document.getElementById("f").addEventListener("submit", (ev) => { ev.preventDefault(); send(); });
t.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); send(); } });
document.getElementById("c").addEventListener("click", () => vscode.postMessage({ type: "cancel" }));
document.getElementById("n").addEventListener("click", () => vscode.postMessage({ type: "newSession" }));
vscode.postMessage({ type: "ready" });
</script></body></html>`;
}
