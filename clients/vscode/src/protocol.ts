/**
 * The custom parts of the codetether language server protocol (lsp/PROTOCOL.md):
 * notification methods, command names and the shapes this client reads. Types only
 * describe what the server sends; every field the UI reads is checked where it is used.
 */

export const Notifications = {
  event: "codetether/event",
  proposal: "codetether/proposal",
  approval: "codetether/approval",
  resolved: "codetether/resolved",
  status: "codetether/status",
} as const;

/** Server → client requests. */
export const Requests = {
  /** `{"uris": [str]}` → `{"saved": [str]}`: save these documents after an applied agent edit. */
  saveDocuments: "codetether/saveDocuments",
} as const;

/** Server commands (`workspace/executeCommand`), also the VS Code command ids. */
export const Commands = {
  chat: "codetether.chat",
  cancel: "codetether.cancel",
  newSession: "codetether.newSession",
  sessions: "codetether.sessions",
  resume: "codetether.resume",
  model: "codetether.model",
  planMode: "codetether.planMode",
  approve: "codetether.approve",
  reject: "codetether.reject",
  showDiff: "codetether.showDiff",
  answer: "codetether.answer",
  review: "codetether.review",
  status: "codetether.status",
  history: "codetether.history",
} as const;

export type CommandName = (typeof Commands)[keyof typeof Commands];

/** A daemon session event, tagged by `type` (daemon/wire/events.py). */
export interface SessionEvent {
  type: string;
  [field: string]: unknown;
}

export interface EventParams {
  session_id: string;
  seq: number;
  event: SessionEvent;
}

export interface ProposalFile {
  uri: string;
  /** Absolute; `rel` (workspace-relative) is what the user is shown. */
  path: string;
  rel?: string;
  diff: string;
  version?: number | null;
}

export interface ProposalParams {
  id: string;
  tool: string;
  files: ProposalFile[];
}

export type ApprovalKind = "tool" | "edit" | "question" | "okr";

/** How a key result is measured (daemon/wire/okr.py `Evidence`): `kind` and its one value. */
export interface OkrEvidence {
  kind?: string;
  command?: string;
  selection?: string;
  path?: string;
  url?: string;
  question?: string;
  value?: string;
  [field: string]: unknown;
}

export interface OkrKeyResult {
  title?: string;
  target_value?: number;
  unit?: string;
  metric_type?: string;
  evidence?: OkrEvidence;
  [field: string]: unknown;
}

/** `/go`'s drafted objective, riding in an `okr` approval (daemon/wire/okr_draft.py). */
export interface OkrDraft {
  okr_id?: string;
  run_id?: string;
  /** 1 for the first draft, 2 after one denial, … */
  attempt?: number;
  title?: string;
  description?: string;
  key_results?: OkrKeyResult[];
}

export interface ApprovalParams {
  id: string;
  kind: ApprovalKind;
  title: string;
  detail: string;
  options?: string[];
  /** Only on `kind: "okr"`: the draft itself, for a richer rendering than `detail`. */
  okr?: OkrDraft;
}

export interface ResolvedParams {
  id: string;
  /** "allow" or "deny". */
  status: string;
  /** Who decided; "cancelled" when the run was cancelled and the proposal withdrawn. */
  by?: string;
  reason?: string;
}

/** The result of `codetether.approve`; `applied: false` comes with the reason in `message`. */
export interface ApproveResult {
  status: string;
  applied?: boolean;
  message?: string;
}

export interface ContextUsage {
  current: number;
  limit: number;
  percent: number;
  level: string;
}

export interface StatusParams {
  session_id: string | null;
  model: string | null;
  busy: boolean;
  input_tokens: number;
  output_tokens: number;
  /** Dollars, or already formatted text ("" when unknown). */
  cost: number | string | null;
  context: ContextUsage | null;
  /** The server's own one-line summary. */
  text?: string;
}

export interface DiffFile {
  uri: string;
  path: string;
  original: string;
  proposed: string;
  diff: string;
}

export interface ShowDiffResult {
  id: string;
  files: DiffFile[];
}
