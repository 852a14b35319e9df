/**
 * Approvals and edit proposals, rendered by this client (it declares
 * `experimental.codetether.approvals`, so the server does not fall back to
 * `window/showMessageRequest`).
 *
 * - `codetether/approval` (tool): a modal Allow / Deny; a question: a quick pick of
 *   its options or an input box. Dismissing leaves it pending for the Approve / Reject
 *   commands or another client.
 * - `codetether/approval` (okr, `/go`'s gate): a modal with the objective and its key
 *   results, Approve / Deny; Deny asks for the reason (the server drafts again with it,
 *   and the next draft arrives as a new gate). Escape leaves it pending for
 *   `codetether.showOkrGate`.
 * - `codetether/proposal`: the diff editor between the original and the proposed text
 *   (virtual documents from `codetether.showDiff`), then Apply / Reject.
 * - `codetether/resolved`: forgets the item, whoever decided it (the toast, the code
 *   action, another client, or the server withdrawing it when a run is cancelled), and
 *   closes what this client showed for it: the proposal's diff tabs and its toast.
 */
import * as path from "node:path";
import * as vscode from "vscode";

import {
  type ApprovalParams,
  type ApproveResult,
  Commands,
  type CommandName,
  type ProposalParams,
  type ResolvedParams,
  type ShowDiffResult,
} from "./protocol";
import { APPROVE, DENY, denyReasonBox, okrGateLabel, okrGateMessage } from "./okr";

export const PROPOSAL_SCHEME = "codetether-proposal";

export type Execute = <T>(command: CommandName, args?: unknown[]) => Promise<T>;

export type PendingItem =
  | { kind: "approval"; params: ApprovalParams }
  | { kind: "proposal"; params: ProposalParams };

/** The modal's message and detail for an approval: the server's question, no kind tag (E7). */
export function approvalMessage(p: ApprovalParams): { message: string; detail: string } {
  const fallback = p.kind === "okr" ? "Approve this OKR?" : "Allow this?";
  return { message: `codetether: ${p.title.trim() || fallback}`, detail: p.detail.trim() };
}

/** The notification shown beside a proposal's diff: the files by name, no tool jargon. */
export function proposalMessage(p: ProposalParams): string {
  const names = p.files.map((f) => f.rel || path.basename(f.path || f.uri));
  const shown = names.length <= 3 ? names.join(", ") : `${names.slice(0, 3).join(", ")} and ${names.length - 3} more`;
  return `codetether wants to change ${shown || "no files"}.`;
}

/** The proposal id of one of our virtual documents (the diff's title-bar buttons pass it). */
export function proposalIdOf(uri: { scheme: string; path: string } | undefined): string | undefined {
  if (uri?.scheme !== PROPOSAL_SCHEME) {
    return undefined;
  }
  const first = uri.path.split("/")[1];
  return first ? decodeURIComponent(first) : undefined;
}

/** Whether a tab is one side-by-side diff of proposal `id` (its right side is our virtual document). */
export function isProposalTab(tab: vscode.Tab, id: string): boolean {
  // Duck-typed rather than `instanceof TabInputTextDiff`: only the modified URI matters.
  const modified = (tab.input as { modified?: vscode.Uri } | undefined)?.modified;
  return modified?.scheme === PROPOSAL_SCHEME && modified.path.startsWith(`/${encodeURIComponent(id)}/`);
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
  /** Proposals whose Apply / Reject toast is still on screen (its promise unsettled). */
  private readonly toasts = new Set<string>();

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
    if (p.kind === "okr") {
      await this.okrGate(p);
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
    if (!this.pending.has(p.id)) {
      return; // decided while the diff opened
    }
    this.toasts.add(p.id);
    let choice: string | undefined;
    try {
      choice = await vscode.window.showInformationMessage(proposalMessage(p), "Apply", "Reject");
    } finally {
      this.toasts.delete(p.id);
    }
    if (!this.pending.has(p.id)) {
      return; // decided meanwhile (code action, another client, withdrawn)
    }
    if (choice === "Apply") {
      await this.approve(p.id);
    } else if (choice === "Reject") {
      await this.reject(p.id);
    }
  }

  onResolved(p: ResolvedParams): Promise<void> {
    return this.forget(p.id);
  }

  /**
   * Drops a decided item and what was shown for it: its virtual documents, its toast and its
   * diff tabs. Called on `codetether/resolved` and after this client's own decision succeeds
   * (the server need not announce a decision to the client that made it).
   */
  private async forget(id: string): Promise<void> {
    this.pending.delete(id);
    const prefix = `${PROPOSAL_SCHEME}:/${encodeURIComponent(id)}/`;
    for (const key of [...this.texts.keys()]) {
      if (key.startsWith(prefix)) {
        this.texts.delete(key);
      }
    }
    if (this.toasts.delete(id)) {
      // The API cannot close one notification; hiding the toasts moves them (ours included)
      // to the notification centre, where a late click on ours finds nothing pending.
      await vscode.commands.executeCommand("notifications.hideToasts");
    }
    await this.closeDiff(id);
  }

  /** Closes the diff tabs of a proposal, in every editor group. */
  async closeDiff(id: string): Promise<void> {
    const tabs = vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => isProposalTab(tab, id));
    if (tabs.length > 0) {
      await vscode.window.tabGroups.close(tabs, true);
    }
  }

  /** Approves; an edit the server could not apply (its buffer changed) says why. */
  async approve(id: string): Promise<unknown> {
    const result = await this.execute<ApproveResult | undefined>(Commands.approve, [{ id }]);
    await this.forget(id);
    if (result?.applied === false && result.message) {
      void vscode.window.showWarningMessage(`codetether: ${result.message}`);
    }
    return result;
  }

  async reject(id: string, reason?: string): Promise<unknown> {
    const result = await this.execute(Commands.reject, [reason ? { id, reason } : { id }]);
    await this.forget(id);
    return result;
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
      // Not a preview: a preview tab would replace the user's own preview tab (E3).
      await vscode.commands.executeCommand("vscode.diff", left, right, title, { preview: false });
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

  /**
   * `/go`'s gate: Approve, or Deny with a reason. A choice made after someone else decided
   * (the CLI, another editor, a cancel) is dropped: the modal cannot be closed from here.
   */
  async okrGate(p: ApprovalParams): Promise<void> {
    const { message, detail } = okrGateMessage(p);
    const choice = await vscode.window.showWarningMessage(message, { modal: true, detail }, APPROVE, DENY);
    if (!this.pending.has(p.id) || choice === undefined) {
      return;
    }
    if (choice === APPROVE) {
      await this.approve(p.id);
      return;
    }
    const reason = await vscode.window.showInputBox({ ...denyReasonBox(p), ignoreFocusOut: true });
    if (reason === undefined) {
      void vscode.window.showInformationMessage(
        "codetether: the objective still awaits your decision (codetether: Show Pending OKR Gate).");
      return;
    }
    if (this.pending.has(p.id)) {
      await this.reject(p.id, reason.trim());
    }
  }

  /** Shows a pending OKR gate again (the one, or the one picked); says so when there is none. */
  async showOkrGate(): Promise<void> {
    const gates = [...this.pending.values()].flatMap((item) =>
      item.kind === "approval" && item.params.kind === "okr" ? [item.params] : []);
    if (gates.length === 0) {
      void vscode.window.showInformationMessage("codetether: no objective is awaiting approval.");
      return;
    }
    const gate = gates.length === 1
      ? gates[0]
      : (await vscode.window.showQuickPick(gates.map((p) => ({ label: okrGateLabel(p), p })),
        { placeHolder: "Which objective?" }))?.p;
    if (gate !== undefined) {
      await this.okrGate(gate);
    }
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
    this.toasts.clear();
  }
}
