/**
 * Drives the real `codetether lsp` over stdio with the protocol library the extension
 * uses (vscode-languageserver-protocol), playing a minimal editor: in-memory documents,
 * `workspace/applyEdit` applied to them, every notification recorded.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import {
  ApplyWorkspaceEditRequest,
  type ApplyWorkspaceEditResult,
  createMessageConnection,
  type MessageConnection,
  DidChangeTextDocumentNotification,
  DidOpenTextDocumentNotification,
  ExecuteCommandRequest,
  ExitNotification,
  InitializedNotification,
  InitializeRequest,
  RegistrationRequest,
  ShowMessageRequest,
  ShutdownRequest,
  StreamMessageReader,
  StreamMessageWriter,
  type TextEdit,
  type WorkspaceEdit,
  WorkDoneProgressCreateRequest,
} from "vscode-languageserver-protocol/node";

import { python, REPO } from "./paths";

export const VENV_BIN = path.join(REPO, ".venv", "bin");

/** A CODETETHER_HOME (short path: the daemon's socket must stay under 108 bytes) with a scripted model. */
export class Home {
  readonly root = mkdtempSync("/tmp/ct");
  readonly workspace = path.join(this.root, "ws");

  constructor(turns: unknown[]) {
    mkdirSync(path.join(this.root, "config"), { recursive: true });
    mkdirSync(this.workspace);
    const script = path.join(this.root, "script.json");
    writeFileSync(script, JSON.stringify({ turns, fallback: "(script exhausted)" }));
    writeFileSync(
      path.join(this.root, "config", "config.toml"),
      `[default]\nprovider = "scripted"\nmodel = "scripted"\n\n[providers.scripted]\nscript = "${script}"\n`,
    );
  }

  file(name: string, text: string): { path: string; uri: string } {
    const p = path.join(this.workspace, name);
    writeFileSync(p, text);
    return { path: p, uri: pathToFileURL(p).href };
  }

  env(): NodeJS.ProcessEnv {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CODETETHER_")));
    return { ...env, CODETETHER_HOME: this.root };
  }

  /** The pid of the daemon running on this home, if any. */
  daemonPid(): number | undefined {
    try {
      const pid = Number(readFileSync(path.join(this.root, "run", "daemon.pid"), "utf8"));
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Stops the daemon the server started (`codetether daemon stop`), then removes the
   * home. Returns whether a daemon was still alive afterwards (then it was sent SIGTERM).
   */
  async cleanup(): Promise<boolean> {
    const pid = this.daemonPid();
    const cli = path.join(VENV_BIN, "codetether");
    await new Promise<void>((resolve) => {
      execFile(cli, ["daemon", "stop"], { env: this.env(), timeout: 30_000 }, () => resolve());
    });
    const leaked = pid !== undefined && alive(pid);
    if (leaked) {
      process.kill(pid, "SIGTERM");
    }
    rmSync(this.root, { recursive: true, force: true });
    return leaked;
  }
}

/** Whether a process runs; a zombie (exited, unreaped: PID 1 here may never reap) does not. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

interface Doc {
  version: number;
  text: string;
}

function offsetAt(text: string, line: number, character: number): number {
  let offset = 0;
  for (let i = 0; i < line; i++) {
    const next = text.indexOf("\n", offset);
    if (next < 0) return text.length;
    offset = next + 1;
  }
  return Math.min(offset + character, text.length);
}

/** Applies TextEdits (non-overlapping, positions in the original text) to a string. */
export function applyTextEdits(text: string, edits: TextEdit[]): string {
  const spans = edits
    .map((e) => ({
      start: offsetAt(text, e.range.start.line, e.range.start.character),
      end: offsetAt(text, e.range.end.line, e.range.end.character),
      newText: e.newText,
    }))
    .sort((a, b) => b.start - a.start);
  for (const s of spans) {
    text = text.slice(0, s.start) + s.newText + text.slice(s.end);
  }
  return text;
}

type Listener = (method: string, params: unknown) => void;

export class Editor {
  readonly docs = new Map<string, Doc>();
  readonly notifications: { method: string; params: unknown }[] = [];
  readonly applied: WorkspaceEdit[] = [];
  private readonly listeners = new Set<Listener>();
  private stderr = "";

  private constructor(
    readonly proc: ChildProcess,
    readonly conn: MessageConnection,
  ) {
    proc.stderr!.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    conn.onNotification((method: string, params: unknown) => {
      this.notifications.push({ method, params });
      for (const l of this.listeners) l(method, params);
    });
    conn.onRequest(WorkDoneProgressCreateRequest.type, () => null);
    conn.onRequest(RegistrationRequest.type, () => undefined);
    conn.onRequest(ShowMessageRequest.type, () => null);
    conn.onRequest(ApplyWorkspaceEditRequest.type, (params): ApplyWorkspaceEditResult => {
      this.applied.push(params.edit);
      return this.apply(params.edit);
    });
  }

  /** Starts the server and completes the initialize handshake. */
  static async start(home: Home, initializationOptions: Record<string, unknown>): Promise<Editor> {
    const proc = spawn(python(), ["-m", "codetether.lsp"], {
      cwd: home.workspace,
      env: { ...home.env(), CODETETHER_HOME: undefined },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const conn = createMessageConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
    const editor = new Editor(proc, conn);
    conn.listen();
    const root = pathToFileURL(home.workspace).href;
    const exited = new Promise<never>((_, reject) =>
      proc.once("exit", (code) => reject(new Error(`server exited ${code}: ${editor.stderr}`))),
    );
    await Promise.race([
      conn.sendRequest(InitializeRequest.type, {
        processId: process.pid,
        rootUri: root,
        workspaceFolders: [{ uri: root, name: "ws" }],
        capabilities: {
          experimental: { codetether: { approvals: true } },
          workspace: { applyEdit: true, workspaceEdit: { documentChanges: true } },
          window: { workDoneProgress: true },
        },
        initializationOptions,
      }),
      exited,
    ]);
    await conn.sendNotification(InitializedNotification.type, {});
    return editor;
  }

  async open(uri: string, text: string): Promise<void> {
    this.docs.set(uri, { version: 1, text });
    await this.conn.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId: "plaintext", version: 1, text },
    });
  }

  execute<T>(command: string, args: unknown[] = []): Promise<T> {
    return this.conn.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }) as Promise<T>;
  }

  /** Resolves with the first notification of `method` matching `pred` (past or future). */
  next<T>(method: string, pred: (params: T) => boolean = () => true, timeoutMs = 30_000): Promise<T> {
    const seen = this.notifications.find((n) => n.method === method && pred(n.params as T));
    if (seen) return Promise.resolve(seen.params as T);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        const got = this.notifications.map((n) => n.method).join(", ");
        reject(new Error(`no ${method} within ${timeoutMs} ms; got: ${got}\nserver stderr: ${this.stderr}`));
      }, timeoutMs);
      const listener: Listener = (m, params) => {
        if (m === method && pred(params as T)) {
          clearTimeout(timer);
          this.listeners.delete(listener);
          resolve(params as T);
        }
      };
      this.listeners.add(listener);
    });
  }

  /** Applies a WorkspaceEdit to the open documents and tells the server, as VS Code does. */
  private apply(edit: WorkspaceEdit): ApplyWorkspaceEditResult {
    const perUri: [string, TextEdit[]][] = [];
    for (const change of edit.documentChanges ?? []) {
      if ("textDocument" in change) {
        const doc = this.docs.get(change.textDocument.uri);
        if (doc && change.textDocument.version !== null && change.textDocument.version !== doc.version) {
          return { applied: false, failureReason: `version ${change.textDocument.version} != ${doc.version}` };
        }
        perUri.push([change.textDocument.uri, change.edits as TextEdit[]]);
      } else if (change.kind === "create") {
        if (!this.docs.has(change.uri)) this.docs.set(change.uri, { version: 0, text: "" });
      } else {
        return { applied: false, failureReason: `unsupported ${change.kind}` };
      }
    }
    for (const [uri, edits] of Object.entries(edit.changes ?? {})) perUri.push([uri, edits]);
    for (const [uri, edits] of perUri) {
      const doc = this.docs.get(uri) ?? { version: 0, text: "" };
      doc.text = applyTextEdits(doc.text, edits);
      doc.version += 1;
      this.docs.set(uri, doc);
      void this.conn.sendNotification(DidChangeTextDocumentNotification.type, {
        textDocument: { uri, version: doc.version },
        contentChanges: [{ text: doc.text }],
      });
    }
    return { applied: true };
  }

  /** shutdown + exit, then waits for the process. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null) {
      const exited = new Promise((resolve) => this.proc.once("exit", resolve));
      try {
        await Promise.race([this.conn.sendRequest(ShutdownRequest.type), exited]);
        await this.conn.sendNotification(ExitNotification.type);
      } catch {
        // the server is gone already
      }
      const timer = setTimeout(() => this.proc.kill(), 10_000);
      await exited;
      clearTimeout(timer);
    }
    this.conn.dispose();
  }
}
