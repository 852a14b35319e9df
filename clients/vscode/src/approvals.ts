/**
 * Approvals and edit proposals, rendered by this client (it declares
 * `experimental.codetether.approvals`, so the server does not fall back to
 * `window/showMessageRequest`).
 *
 * - `codetether/approval` (tool, okr): a modal Allow / Deny; a question: a quick pick of
 *   its options or an input box. Dismissing leaves it pending for the Approve / Reject
 *   commands or another client.
 * - `codetether/proposal`: the diff editor between the original and the proposed text
 *   (virtual documents from `codetether.showDiff`), then Apply / Reject.
 * - `codetether/resolved`: forgets the item, whoever decided it.
 */
import * as path from "node:path";
import * as vscode from "vscode";

import {
  type ApprovalParams,
  Commands,
  type CommandName,
  type ProposalParams,
  type ResolvedParams,
  type ShowDiffResult,
} from "./protocol";

export const PROPOSAL_SCHEME = "codetether-proposal";

export type Execute = <T>(command: CommandName, args?: unknown[]) => Promise<T>;

export type PendingItem =
  | { kind: "approval"; params: ApprovalParams }
  | { kind: "proposal"; params: ProposalParams };

/** The modal's message and detail for an approval. */
export function approvalMessage(p: ApprovalParams): { message: string; detail: string } {
  const what = p.kind === "okr" ? "OKR" : p.kind;
  const title = p.title.trim() || `${what} approval`;
  return { message: `codetether wants approval (${what}): ${title}`, detail: p.detail.trim() };
}

/** The notification shown beside a proposal's diff. */
export function proposalMessage(p: ProposalParams): string {
  const names = p.files.map((f) => path.basename(f.path || f.uri));
  const shown = names.length <= 3 ? names.join(", ") : `${names.slice(0, 3).join(", ")} and ${names.length - 3} more`;
  return `codetether proposes an edit (${p.tool}) to ${shown || "no files"}.`;
}

/** One line of the Approve / Reject quick pick. */
export function pendingLabel(item: PendingItem): string {
  return item.kind === "proposal"
    ? `$(diff) ${proposalMessage(item.params)}`
    : `$(shield) ${approvalMessage(item.params).message}`;
}

/** The virtual document of one side of a proposed file. */
export function proposalUri(id: string, side: "original" | "proposed", filePath: string): vscode.Uri {
  const rel = filePath.startsWith("/") ? filePath : `/${filePath}`;
  return vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: `/${encodeURIComponent(id)}/${side}${rel}` });
}

export class Approvals implements vscode.TextDocumentContentProvider, vscode.Disposable {
  /** Undecided approvals and proposals by id, as last announced by the server. */
  readonly pending = new Map<string, PendingItem>();
  /** Virtual document text by URI string, kept until its proposal is resolved. */
  private readonly texts = new Map<string, string>();
  private readonly textsChanged = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.textsChanged.event;
  private readonly registration: vscode.Disposable;

  constructor(private readonly execute: Execute) {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, this);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? "";
  }

  async onApproval(p: ApprovalParams): Promise<void> {
    this.pending.set(p.id, { kind: "approval", params: p });
    if (p.kind === "edit") {
      return; // the matching codetether/proposal shows the diff with Apply / Reject
    }
    if (p.kind === "question") {
      await this.ask(p);
      return;
    }
    const { message, detail } = approvalMessage(p);
    const choice = await vscode.window.showWarningMessage(message, { modal: true, detail }, "Allow", "Deny");
    if (choice === "Allow") {
      await this.approve(p.id);
    } else if (choice === "Deny") {
      await this.reject(p.id);
    }
  }

  async onProposal(p: ProposalParams): Promise<void> {
    this.pending.set(p.id, { kind: "proposal", params: p });
    await this.showDiff(p.id);
    const choice = await vscode.window.showInformationMessage(proposalMessage(p), "Apply", "Reject");
    if (!this.pending.has(p.id)) {
      return; // decided meanwhile (code action, another client)
    }
    if (choice === "Apply") {
      await this.approve(p.id);
    } else if (choice === "Reject") {
      await this.reject(p.id);
    }
  }

  onResolved(p: ResolvedParams): void {
    this.pending.delete(p.id);
    const prefix = `${PROPOSAL_SCHEME}:/${encodeURIComponent(p.id)}/`;
    for (const key of [...this.texts.keys()]) {
      if (key.startsWith(prefix)) {
        this.texts.delete(key);
      }
    }
  }

  approve(id: string): Promise<unknown> {
    return this.execute(Commands.approve, [{ id }]);
  }

  reject(id: string, reason?: string): Promise<unknown> {
    return this.execute(Commands.reject, [reason ? { id, reason } : { id }]);
  }

  /** Opens one diff editor per file of a proposal. */
  async showDiff(id: string): Promise<void> {
    const result = await this.execute<ShowDiffResult>(Commands.showDiff, [{ id }]);
    for (const file of result.files) {
      const left = proposalUri(id, "original", file.path);
      const right = proposalUri(id, "proposed", file.path);
      this.texts.set(left.toString(), file.original);
      this.texts.set(right.toString(), file.proposed);
      this.textsChanged.fire(left);
      this.textsChanged.fire(right);
      const title = `${path.basename(file.path)} ↔ agent edit`;
      await vscode.commands.executeCommand("vscode.diff", left, right, title, { preview: true });
    }
  }

  /** Asks which pending item a command without arguments is about. */
  async pick(placeHolder: string): Promise<string | undefined> {
    const items = [...this.pending.entries()].map(([id, item]) => ({ id, label: pendingLabel(item) }));
    if (items.length === 0) {
      void vscode.window.showInformationMessage("codetether: nothing is awaiting a decision.");
      return undefined;
    }
    if (items.length === 1) {
      return items[0].id;
    }
    return (await vscode.window.showQuickPick(items, { placeHolder }))?.id;
  }

  private async ask(p: ApprovalParams): Promise<void> {
    const answer = p.options?.length
      ? await vscode.window.showQuickPick(p.options, { title: p.title, placeHolder: p.detail, ignoreFocusOut: true })
      : await vscode.window.showInputBox({ title: p.title, prompt: p.detail, ignoreFocusOut: true });
    if (answer !== undefined) {
      await this.execute(Commands.answer, [{ id: p.id, answer }]);
    }
  }

  dispose(): void {
    this.registration.dispose();
    this.textsChanged.dispose();
    this.texts.clear();
    this.pending.clear();
  }
}
