/**
 * The chat transcript as data: session events folded into entries. Pure (no `vscode`, no
 * DOM), so the extension (which keeps and stores the transcript) and the webview (which
 * renders it) run the same fold on the same events and cannot drift apart.
 */

/** A daemon session event, tagged by `type` (daemon/wire/events.py). */
export interface TranscriptEvent {
  type: string;
  [field: string]: unknown;
}

/** One file a tool call changed (`tool_call_end.changes`). */
export interface FileChange {
  path: string;
  kind: string;
  diff: string;
}

/** A tool call, shown as a card: arguments, streamed output, then its result. */
export interface ToolEntry {
  kind: "tool";
  id: string;
  name: string;
  args: string;
  output: string;
  /** Set when the call ended. */
  result?: string;
  isError?: boolean;
  changes?: FileChange[];
}

export interface TextEntry {
  kind: "user" | "text" | "thinking" | "notice" | "error" | "done";
  text: string;
}

export type ChatEntry = TextEntry | ToolEntry;

/** Keeps the transcript bounded; the daemon's event stream keeps the full history. */
export const MAX_ENTRIES = 2000;
/** A tool's streamed output beyond this is cut (its head kept): the card is a preview. */
export const MAX_OUTPUT = 64 * 1024;

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function capped(text: string): string {
  return text.length > MAX_OUTPUT ? `${text.slice(0, MAX_OUTPUT)}\n… (cut)` : text;
}

function changesOf(value: unknown): FileChange[] {
  if (!Array.isArray(value)) {
    return [];
  }
  return value
    .filter((c): c is Record<string, unknown> => typeof c === "object" && c !== null)
    .map((c) => ({ path: str(c.path), kind: str(c.kind), diff: str(c.diff) }));
}

function findTool(entries: ChatEntry[], id: string): ToolEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (e.kind === "tool" && e.id === id) {
      return e;
    }
  }
  return undefined;
}

/** What a fold step did: the entry at `index` was added or changed; `trimmed` if older ones went. */
export interface Change {
  index: number;
  trimmed: boolean;
}

function push(entries: ChatEntry[], entry: ChatEntry): Change {
  entries.push(entry);
  let trimmed = false;
  if (entries.length > MAX_ENTRIES) {
    entries.splice(0, entries.length - MAX_ENTRIES);
    trimmed = true;
  }
  return { index: entries.length - 1, trimmed };
}

function merge(entries: ChatEntry[], kind: "text" | "thinking", text: string): Change {
  const last = entries[entries.length - 1];
  if (last && last.kind === kind) {
    last.text += text;
    return { index: entries.length - 1, trimmed: false };
  }
  return push(entries, { kind, text });
}

/**
 * Folds one session event into `entries` (in place): streamed text and thinking merge into
 * the entry before them, tool output and results land on their call's card. Returns what
 * changed, or undefined for events the chat does not show.
 */
export function applyEvent(entries: ChatEntry[], event: TranscriptEvent): Change | undefined {
  switch (event.type) {
    case "user":
      return push(entries, { kind: "user", text: str(event.text) });
    case "text":
    case "thinking":
      return str(event.text) ? merge(entries, event.type, str(event.text)) : undefined;
    case "notice":
      return push(entries, { kind: "notice", text: str(event.text) });
    case "tool_call_start":
      return push(entries, { kind: "tool", id: str(event.call_id), name: str(event.name), args: str(event.arguments), output: "" });
    case "tool_output": {
      const tool = findTool(entries, str(event.call_id));
      if (tool === undefined) {
        return undefined;
      }
      tool.output = capped(tool.output + str(event.text));
      return { index: entries.lastIndexOf(tool), trimmed: false };
    }
    case "tool_call_end": {
      const id = str(event.call_id);
      const tool = findTool(entries, id) ?? { kind: "tool", id, name: str(event.name), args: "", output: "" };
      tool.result = capped(str(event.output));
      tool.isError = event.is_error === true;
      tool.changes = changesOf(event.changes);
      const index = entries.lastIndexOf(tool);
      return index >= 0 ? { index, trimmed: false } : push(entries, tool);
    }
    case "error":
      return push(entries, { kind: "error", text: `error: ${str(event.message)}` });
    case "done": {
      const reason = str(event.stop_reason);
      return push(entries, { kind: "done", text: reason && reason !== "end_turn" ? `(${reason})` : "" });
    }
    default:
      return undefined;
  }
}

/** A short line for a tool call's arguments (JSON from the model): the first value or two. */
export function argsSummary(args: string, max = 80): string {
  let text = args;
  try {
    const parsed: unknown = JSON.parse(args);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
      text = Object.values(parsed as Record<string, unknown>)
        .map((v) => (typeof v === "string" ? v : JSON.stringify(v)))
        .join(" ");
    }
  } catch {
    // not JSON: shown as it came
  }
  text = text.replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Keeps only well-formed entries (a stored or posted transcript may come from an older version). */
export function validEntries(value: unknown): ChatEntry[] {
  if (!Array.isArray(value)) {
    return [];
  }
  return value.filter((e): e is ChatEntry => {
    if (typeof e !== "object" || e === null) {
      return false;
    }
    const r = e as Record<string, unknown>;
    if (r.kind === "tool") {
      return typeof r.id === "string" && typeof r.name === "string" && typeof r.args === "string" && typeof r.output === "string";
    }
    return typeof r.kind === "string" && typeof r.text === "string"
      && ["user", "text", "thinking", "notice", "error", "done"].includes(r.kind);
  }).slice(-MAX_ENTRIES);
}
