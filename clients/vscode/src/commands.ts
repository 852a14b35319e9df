/**
 * The `codetether.*` commands. Each forwards to the server command of the same name;
 * called without arguments (the command palette) it first asks for them.
 */
import * as vscode from "vscode";

import { type Approvals, proposalIdOf } from "./approvals";
import type { ChatView, ModelChoice, SessionItem } from "./chatView";
import { logger } from "./logger";
import { Commands, type CommandName, type EventParams, type StatusParams } from "./protocol";
import type { Server } from "./client";
import { type StatusBar, statusTooltip } from "./status";

type Args = Record<string, unknown> | undefined;

export interface CommandDeps {
  server: Server;
  approvals: Approvals;
  chat: ChatView;
  status: StatusBar;
}

function workspaceFolder(): string | undefined {
  const active = vscode.window.activeTextEditor?.document.uri;
  const folder = active ? vscode.workspace.getWorkspaceFolder(active) : vscode.workspace.workspaceFolders?.[0];
  return folder?.uri.toString();
}

/** A session as listed by `codetether.sessions`; the label falls back through likely fields. */
export function sessionLabel(s: Record<string, unknown>): SessionItem {
  const id = String(s.session_id ?? s.id ?? "");
  const title = typeof s.title === "string" && s.title ? s.title : id;
  const updated = typeof s.updated_at === "string" ? s.updated_at
    : typeof s.updated_at === "number" ? new Date(s.updated_at * 1000).toLocaleString() : undefined;
  return { id, label: title, description: updated ?? (title === id ? undefined : id) };
}

/** The sessions of a `codetether.sessions` result, most recently updated first. */
export function sessionItems(result: unknown): SessionItem[] {
  const list = (Array.isArray(result) ? result : []).filter(
    (s): s is Record<string, unknown> => typeof s === "object" && s !== null,
  );
  const updated = (s: Record<string, unknown>) => (typeof s.updated_at === "number" ? s.updated_at : 0);
  return [...list].sort((a, b) => updated(b) - updated(a)).map(sessionLabel).filter((s) => s.id);
}

/** The `codetether.model` result as a choice: the model set (null: the daemon's default) and the models. */
export function modelChoice(result: unknown): ModelChoice {
  const r = (typeof result === "object" && result !== null ? result : {}) as Record<string, unknown>;
  const models = (Array.isArray(r.models) ? r.models : []).map((m) =>
    typeof m === "string" ? m : String((m as Record<string, unknown>)?.id ?? (m as Record<string, unknown>)?.name ?? ""),
  ).filter(Boolean);
  return { model: typeof r.model === "string" ? r.model : null, models };
}

/** The id a command was called with: `{id}`, or the proposal's diff (its title-bar buttons). */
function idArg(args: Args | vscode.Uri): string | undefined {
  if (args instanceof vscode.Uri) {
    return proposalIdOf(args);
  }
  return typeof args?.id === "string" ? args.id : undefined;
}

export function registerCommands(deps: CommandDeps): vscode.Disposable[] {
  const { server, approvals, chat, status } = deps;
  const run = <T>(command: CommandName, args: unknown[] = []) => server.execute<T>(command, args);

  const chatWith = async (text: string): Promise<void> => {
    const folder = workspaceFolder();
    await run(Commands.chat, [folder ? { text, folder } : { text }]);
  };

  const pickSession = async (): Promise<string | undefined> => {
    const items = sessionItems(await run<unknown>(Commands.sessions));
    if (items.length === 0) {
      void vscode.window.showInformationMessage("codetether: no sessions in this workspace yet.");
      return undefined;
    }
    return (await vscode.window.showQuickPick(items, { placeHolder: "Resume a codetether session" }))?.id;
  };

  /** Resumes a session and shows its transcript in the chat. */
  const resume = async (id: string | undefined): Promise<unknown> => {
    if (!id) {
      return undefined;
    }
    const result = await run(Commands.resume, [{ session_id: id }]);
    if (!chat.showSession(id)) {
      const history = await run<{ events?: EventParams[] }>(Commands.history, [{ session_id: id }]);
      chat.loadHistory(id, history?.events ?? []);
    }
    return result;
  };

  const handlers: Record<string, (args: Args) => Promise<unknown>> = {
    [Commands.chat]: async (args) => {
      const text =
        typeof args?.text === "string"
          ? args.text
          : await vscode.window.showInputBox({ prompt: "Ask codetether", ignoreFocusOut: true });
      if (text?.trim()) {
        void vscode.commands.executeCommand(`${Commands.chat}.focus`);
        await chatWith(text.trim());
      }
    },
    [Commands.cancel]: () => run(Commands.cancel),
    [Commands.newSession]: async (args) => {
      const folder = workspaceFolder();
      const result = await run<{ session_id?: unknown }>(Commands.newSession, [args ?? (folder ? { folder } : {})]);
      chat.clear(typeof result?.session_id === "string" ? result.session_id : null);
      return result;
    },
    [Commands.sessions]: async () => resume(await pickSession()),
    [Commands.resume]: async (args) =>
      resume(typeof args?.session_id === "string" ? args.session_id : await pickSession()),
    [Commands.model]: async (args) => {
      if (typeof args?.model === "string") {
        return run(Commands.model, [args]);
      }
      const current = modelChoice(await run<unknown>(Commands.model, [{}]));
      const model = await vscode.window.showQuickPick(current.models, { placeHolder: `Model (now ${current.model ?? "default"})` });
      return model ? run(Commands.model, [{ model }]) : undefined;
    },
    [Commands.planMode]: async (args) => {
      let on = typeof args?.on === "boolean" ? args.on : undefined;
      if (on === undefined) {
        const choice = await vscode.window.showQuickPick(["On", "Off"], { placeHolder: "codetether plan mode" });
        if (choice === undefined) {
          return undefined;
        }
        on = choice === "On";
      }
      const result = await run<{ approval_mode: string }>(Commands.planMode, [{ on }]);
      void vscode.window.showInformationMessage(`codetether: approval mode ${result.approval_mode}`);
      return result;
    },
    [Commands.approve]: async (args) => {
      const id = idArg(args) ?? (await approvals.pick("Approve which?"));
      return id ? approvals.approve(id) : undefined;
    },
    [Commands.reject]: async (args) => {
      const id = idArg(args) ?? (await approvals.pick("Reject which?"));
      const reason = typeof args?.reason === "string" ? args.reason : undefined;
      return id ? approvals.reject(id, reason) : undefined;
    },
    [Commands.showDiff]: async (args) => {
      const id = typeof args?.id === "string" ? args.id : await approvals.pick("Show which diff?");
      return id ? approvals.showDiff(id) : undefined;
    },
    [Commands.answer]: (args) => run(Commands.answer, [args ?? {}]),
    [Commands.review]: async (args) => {
      const uri = typeof args?.uri === "string" ? args.uri : vscode.window.activeTextEditor?.document.uri.toString();
      if (!uri) {
        void vscode.window.showInformationMessage("codetether: open a file to review.");
        return undefined;
      }
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: "codetether: reviewing…" },
        () => run<{ findings: number }>(Commands.review, [{ uri }]),
      );
      void vscode.window.showInformationMessage(`codetether: ${result.findings} finding(s), see Problems.`);
      return result;
    },
    [Commands.status]: async () => {
      const s = await run<StatusParams>(Commands.status);
      status.update(s);
      void vscode.window.showInformationMessage(statusTooltip(s).replace(/\n/g, " · "));
      return s;
    },
    "codetether.restart": () => server.restart(),
    "codetether.showOkrGate": () => approvals.showOkrGate(),
  };

  return Object.entries(handlers).map(([id, handler]) =>
    vscode.commands.registerCommand(id, async (args: Args) => {
      try {
        return await handler(args);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        logger().error(`${id}: ${message}`);
        void vscode.window.showErrorMessage(`codetether: ${message}`);
        return undefined;
      }
    }),
  );
}
