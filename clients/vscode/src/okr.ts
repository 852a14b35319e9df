/**
 * `/go`'s OKR gate as this client shows it: the drafted objective and its key results in
 * a modal with Approve / Deny. Pure formatting, so the tests run it without VS Code.
 *
 * The lines match the CLI's prompt and the server's `detail` (daemon/wire/okr_draft.py
 * `okr_lines`), so a person sees the same draft in every client.
 */
import type { ApprovalParams, OkrDraft, OkrEvidence } from "./protocol";

export const APPROVE = "Approve";
export const DENY = "Deny";

function text(value: unknown): string {
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : "";
}

/** How a key result is measured: `kind: value` (the first of the evidence's value fields). */
export function evidenceText(ev: OkrEvidence | undefined): string {
  if (ev === null || typeof ev !== "object") {
    return "";
  }
  const kind = text(ev.kind);
  const value = (["command", "selection", "path", "url", "question", "value"] as const)
    .map((k) => text(ev[k]))
    .find((v) => v !== "");
  return value ? `${kind}: ${value}` : kind;
}

/** The draft in an approval's `okr`, if it is one (it is checked, not trusted). */
export function okrDraftOf(p: ApprovalParams): OkrDraft | undefined {
  const okr = p.okr as unknown;
  return okr !== null && typeof okr === "object" && Array.isArray((okr as OkrDraft).key_results)
    ? (okr as OkrDraft)
    : undefined;
}

/** The draft as lines: the objective, its description, one line per key result. */
export function okrLines(draft: OkrDraft): string[] {
  const lines = [text(draft.title) || "(untitled objective)"];
  if (text(draft.description)) {
    lines.push(text(draft.description));
  }
  (draft.key_results ?? []).forEach((kr, i) => {
    if (kr === null || typeof kr !== "object") {
      return;
    }
    const target = `${text(kr.target_value)} ${text(kr.unit)}`.trim();
    const how = evidenceText(kr.evidence);
    lines.push(
      `KR${i + 1}. ${text(kr.title)}` +
        (target ? ` (target ${target}, ${text(kr.metric_type) || "progress"})` : "") +
        (how ? ` — measured by ${how}` : ""),
    );
  });
  return lines;
}

/**
 * The modal's message and detail: the server's title ("Approve objective: …"), then the
 * objective, its description and the key results, and what Deny does.
 */
export function okrGateMessage(p: ApprovalParams): { message: string; detail: string } {
  const draft = okrDraftOf(p);
  const title = p.title.trim() || `Approve objective: ${text(draft?.title) || "(untitled)"}`;
  const body = draft ? okrLines(draft).join("\n") : p.detail.trim();
  const attempt = typeof draft?.attempt === "number" && draft.attempt > 1 ? `Draft ${draft.attempt}. ` : "";
  const footer = `${attempt}Deny asks for your reason, and the objective is drafted again with it.`;
  return { message: `codetether: ${title}`, detail: body ? `${body}\n\n${footer}` : footer };
}

/** The input box that asks why an objective was denied. */
export function denyReasonBox(p: ApprovalParams): { title: string; prompt: string; placeHolder: string } {
  const name = text(okrDraftOf(p)?.title) || p.title.replace(/^Approve objective:\s*/, "");
  return {
    title: `Deny "${name}"`,
    prompt: "Why? codetether drafts the objective again with your reason (Escape keeps it pending).",
    placeHolder: "e.g. say which file, or measure it with the tests",
  };
}

/** One line of the pending OKR gates' quick pick. */
export function okrGateLabel(p: ApprovalParams): string {
  return `$(target) ${text(okrDraftOf(p)?.title) || p.title}`;
}
