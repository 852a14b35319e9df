/**
 * The chat view: a webview in the activity bar that renders session events (Markdown,
 * tool cards) and sends prompts through `codetether.chat`; its toolbar picks the model
 * (`codetether.model`) and resumes sessions (`codetether.sessions` / `codetether.resume`).
 *
 * The transcript is kept in three places, for three kinds of loss:
 * - the extension's copy (the truth), posted to the webview once its script says it is
 *   listening (`ready`): a message posted before that is lost;
 * - the webview's `setState`, for when the view is re-created (E2: switched away and back);
 * - the workspace's Memento, per session, for a window reload (the extension host restarts)
 *   and for showing a session's history when it is resumed from the session list.
 * A session this window never saw is redrawn from its past events (`codetether.history`,
 * the newest 2,000 from the daemon's event stream).
 *
 * The webview's page is the bundled dist/webview.js and media/chat.css under a strict CSP:
 * no inline script or style, the script allowed by nonce, nothing loaded from the network.
 */
import * as vscode from "vscode";

import type { EventParams } from "./protocol";
import { applyEvent, type ChatEntry, validEntries } from "./transcript";

export { applyEvent, type ChatEntry } from "./transcript";

/** A session as the session list shows it. */
export interface SessionItem {
  id: string;
  label: string;
  description?: string;
}

export interface ModelChoice {
  model: string | null;
  models: string[];
}

export interface ChatActions {
  send(text: string): Promise<void>;
  cancel(): Promise<void>;
  newSession(): Promise<void>;
  models(): Promise<ModelChoice>;
  setModel(model: string): Promise<void>;
  sessions(): Promise<SessionItem[]>;
  resume(id: string): Promise<void>;
}

/** What the Memento holds: the view's session and the transcripts of recent sessions. */
interface Stored {
  current: string | null;
  transcripts: Record<string, ChatEntry[]>;
}

const STORE_KEY = "codetether.chat";
/** Transcripts kept for this many sessions (the most recently shown). */
const STORED_SESSIONS = 20;
/** Stored per session (the view itself keeps more while the window lives). */
const STORED_ENTRIES = 500;
const SAVE_DELAY_MS = 300;

/** The part of `vscode.Memento` used here (the workspace's state). */
export interface StateStore {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void>;
}

/** Incoming webview messages, checked field by field. */
interface ViewMessage {
  type?: string;
  text?: unknown;
  model?: unknown;
  id?: unknown;
}

export class ChatView implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewId = "codetether.chat";
  private view: vscode.WebviewView | undefined;
  private entries: ChatEntry[] = [];
  private session: string | null = null;
  /** A session shown without its transcript, whose history (`codetether.history`) may come. */
  private awaitingHistory: string | null = null;
  private transcripts: Record<string, ChatEntry[]> = {};
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly actions: ChatActions,
    private readonly extensionUri: vscode.Uri,
    private readonly store?: StateStore,
  ) {
    const stored = store?.get<Stored>(STORE_KEY);
    if (stored && typeof stored === "object") {
      for (const [id, list] of Object.entries(stored.transcripts ?? {})) {
        this.transcripts[id] = validEntries(list);
      }
      this.session = typeof stored.current === "string" ? stored.current : null;
      this.entries = this.session ? [...(this.transcripts[this.session] ?? [])] : [];
      // A session stored without its transcript is redrawn from the daemon (`pendingHistory`).
      this.awaitingHistory = this.session !== null && this.entries.length === 0 ? this.session : null;
    }
    this.disposables.push(
      vscode.window.registerWebviewViewProvider(ChatView.viewId, this, {
        webviewOptions: { retainContextWhenHidden: true },
      }),
    );
  }

  /** The session whose transcript the view shows (null before any). */
  get sessionId(): string | null {
    return this.session;
  }

  /** The session on show whose past events (`codetether.history`) are still wanted, if any. */
  get pendingHistory(): string | null {
    return this.awaitingHistory !== null && this.awaitingHistory === this.session ? this.awaitingHistory : null;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const media = vscode.Uri.joinPath(this.extensionUri, "media");
    const dist = vscode.Uri.joinPath(this.extensionUri, "dist");
    view.webview.options = { enableScripts: true, localResourceRoots: [media, dist] };
    view.webview.html = chatHtml({
      nonce: nonce(),
      cspSource: view.webview.cspSource,
      script: view.webview.asWebviewUri(vscode.Uri.joinPath(dist, "webview.js")).toString(),
      style: view.webview.asWebviewUri(vscode.Uri.joinPath(media, "chat.css")).toString(),
    });
    view.webview.onDidReceiveMessage((msg: ViewMessage) => this.onMessage(msg), undefined, this.disposables);
    view.onDidDispose(() => (this.view = undefined), undefined, this.disposables);
  }

  onEvent(params: EventParams): void {
    // Swarm progress arrives as the pseudo-session `swarm:<id>`: shown in the chat it was asked from.
    if (!params.session_id.startsWith("swarm:") && params.session_id !== this.session) {
      this.stash();
      this.session = params.session_id;
    }
    if (applyEvent(this.entries, params.event) === undefined) {
      return;
    }
    this.post({ type: "event", event: params.event });
    this.scheduleSave();
  }

  /** Starts an empty transcript (a new session); the old one stays stored under its session. */
  clear(session: string | null = null): void {
    this.stash();
    this.session = session;
    this.entries = [];
    this.reset();
  }

  /**
   * Shows a session's stored transcript (after a resume), or a notice until its history
   * arrives (`loadHistory`). Returns whether this window had its transcript.
   */
  showSession(id: string): boolean {
    if (id === this.session) {
      return true;
    }
    this.stash();
    this.session = id;
    const stored = this.transcripts[id];
    this.entries = stored
      ? [...stored]
      : [{ kind: "notice", text: `Resumed session ${id}; its earlier messages are not shown in this window.` }];
    this.awaitingHistory = stored === undefined ? id : null;
    this.reset();
    return stored !== undefined;
  }

  /** Redraws a session this window never saw from its past events (`codetether.history`). */
  loadHistory(id: string, events: EventParams[]): void {
    if (id !== this.session || this.awaitingHistory !== id || events.length === 0) {
      return;
    }
    this.awaitingHistory = null;
    const entries: ChatEntry[] = [];
    for (const params of events) {
      applyEvent(entries, params.event);
    }
    this.entries = entries;
    this.reset();
  }

  /**
   * Stores the switch, then shows the view's transcript anew: a reload may follow as soon
   * as it is on show (the file store has written it by then).
   */
  private reset(): void {
    void this.save();
    this.post({ type: "reset", entries: this.entries });
  }

  private post(message: unknown): void {
    void this.view?.webview.postMessage(message);
  }

  /** Files the view's transcript under its session (most recent last, oldest dropped). */
  private stash(): void {
    if (this.session === null) {
      return;
    }
    delete this.transcripts[this.session];
    this.transcripts[this.session] = this.entries.slice(-STORED_ENTRIES);
    const ids = Object.keys(this.transcripts);
    for (const old of ids.slice(0, Math.max(0, ids.length - STORED_SESSIONS))) {
      delete this.transcripts[old];
    }
  }

  private scheduleSave(): void {
    if (this.store === undefined || this.saveTimer !== undefined) {
      return;
    }
    this.saveTimer = setTimeout(() => this.save(), SAVE_DELAY_MS);
  }

  /** Writes the transcripts to the workspace's state now (also on dispose). */
  save(): Thenable<void> | undefined {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    this.stash();
    return this.store?.update(STORE_KEY, { current: this.session, transcripts: this.transcripts } satisfies Stored);
  }

  private onMessage(msg: ViewMessage): void {
    const str = (v: unknown) => (typeof v === "string" ? v.trim() : "");
    let act: Promise<unknown> | undefined;
    switch (msg.type) {
      case "ready":
        this.post({ type: "reset", entries: this.entries });
        return;
      case "send":
        act = str(msg.text) ? this.actions.send(str(msg.text)) : undefined;
        break;
      case "cancel":
        act = this.actions.cancel();
        break;
      case "newSession":
        act = this.actions.newSession();
        break;
      case "models":
        act = this.actions.models().then((m) => this.post({ type: "models", ...m }));
        break;
      case "setModel":
        act = str(msg.model) ? this.actions.setModel(str(msg.model)) : undefined;
        break;
      case "sessions":
        act = this.actions.sessions().then((sessions) => this.post({ type: "sessions", sessions, current: this.session }));
        break;
      case "resume":
        act = str(msg.id) ? this.actions.resume(str(msg.id)) : undefined;
        break;
    }
    act?.catch((err: unknown) => {
      void vscode.window.showErrorMessage(`codetether: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  dispose(): void {
    void this.save();
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

/** The webview's page: only the bundled script (by nonce) and the stylesheet may load. */
export function chatHtml(p: { nonce: string; cspSource: string; script: string; style: string }): string {
  const csp = [
    "default-src 'none'",
    `style-src ${p.cspSource}`,
    `script-src 'nonce-${p.nonce}'`,
    `font-src ${p.cspSource}`,
    // Highlighted code and rendered Markdown never load anything: no img-src, no connect-src.
  ].join("; ");
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp};">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${p.style}">
</head>
<body>
<div id="toolbar">
<select id="model" title="Model" aria-label="Model"><option value="">model…</option></select>
<select id="sessions" title="Resume a session" aria-label="Sessions"><option value="">sessions…</option></select>
<button type="button" id="n" title="New session">New</button>
</div>
<div id="log" role="log" aria-live="polite"></div>
<form id="f"><textarea id="t" rows="3" placeholder="Ask codetether… (Ctrl+Enter to send)"></textarea>
<div class="actions"><button type="submit">Send</button><button type="button" id="c" class="secondary">Stop</button></div></form>
<script nonce="${p.nonce}" src="${p.script}"></script>
</body></html>`;
}
