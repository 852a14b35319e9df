/** Wiring only: builds the parts and connects server notifications to them. */
import * as vscode from "vscode";

import { Approvals } from "./approvals";
import { ChatView } from "./chatView";
import { Server } from "./client";
import { modelChoice, registerCommands, sessionItems } from "./commands";
import { disposeLogger, logger } from "./logger";
import {
  type ApprovalParams,
  Commands,
  type EventParams,
  Notifications,
  type ProposalParams,
  Requests,
  type ResolvedParams,
  type StatusParams,
} from "./protocol";
import { saveDocuments } from "./save";
import { FileState } from "./state";
import { SECTION } from "./settings";
import { StatusBar } from "./status";

let server: Server | undefined;

function report(what: string): (err: unknown) => void {
  return (err) => logger().error(`${what}: ${err instanceof Error ? err.message : String(err)}`);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const status = new StatusBar();
  const srv = new Server((client) => {
    client.onNotification(Notifications.event, (p: EventParams) => {
      chat.onEvent(p);
      if (p.event.type === "done") {
        // A turn's end must clear "working" even from a server that pushes status only on
        // usage events (E4): ask for it.
        srv.execute<StatusParams>(Commands.status).then((s) => status.update(s), report("status"));
      }
    });
    client.onNotification(Notifications.proposal, (p: ProposalParams) => {
      approvals.onProposal(p).catch(report("proposal"));
    });
    client.onNotification(Notifications.approval, (p: ApprovalParams) => {
      approvals.onApproval(p).catch(report("approval"));
    });
    client.onNotification(Notifications.resolved, (p: ResolvedParams) => {
      approvals.onResolved(p).catch(report("resolved"));
    });
    client.onRequest(Requests.saveDocuments, (p: unknown) => saveDocuments(p));
    client.onNotification(Notifications.status, (p: StatusParams) => status.update(p));
  });
  server = srv;
  const approvals = new Approvals((command, args) => srv.execute(command, args));
  const chat = new ChatView(
    {
      send: async (text) => {
        await vscode.commands.executeCommand(Commands.chat, { text });
      },
      cancel: () => srv.execute(Commands.cancel).then(() => undefined),
      newSession: async () => {
        await vscode.commands.executeCommand(Commands.newSession);
      },
      models: async () => modelChoice(await srv.execute<unknown>(Commands.model, [{}])),
      setModel: async (model) => {
        await vscode.commands.executeCommand(Commands.model, { model });
      },
      sessions: async () => sessionItems(await srv.execute<unknown>(Commands.sessions)),
      resume: async (id) => {
        await vscode.commands.executeCommand(Commands.resume, { session_id: id });
      },
    },
    context.extensionUri,
    context.storageUri ? new FileState(context.storageUri.fsPath, context.workspaceState) : context.workspaceState,
  );

  context.subscriptions.push(
    logger(),
    status,
    approvals,
    chat,
    ...registerCommands({ server: srv, approvals, chat, status }),
    srv.onDidChangeClient((client) => {
      if (client === undefined) {
        status.offline("codetether: language server stopped");
      } else {
        srv.execute<StatusParams>(Commands.status).then((s) => status.update(s), report("status"));
      }
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(SECTION)) {
        srv.restart().catch(report("restart"));
      }
    }),
  );

  try {
    await srv.start();
    const pending = chat.pendingHistory;
    if (pending !== null) {
      srv
        .execute<{ events?: EventParams[] }>(Commands.history, [{ session_id: pending }])
        .then((h) => chat.loadHistory(pending, h?.events ?? []), report("history"));
    }
  } catch (err) {
    status.offline(`codetether: ${err instanceof Error ? err.message : String(err)}`);
    report("start")(err);
  }
}

export async function deactivate(): Promise<void> {
  await server?.dispose();
  server = undefined;
  disposeLogger();
}
