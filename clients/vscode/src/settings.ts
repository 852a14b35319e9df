/**
 * Settings → the language server's `initializationOptions`.
 *
 * Every setting is declared once, with its default, in package.json
 * (`contributes.configuration`); VS Code fills the defaults in. The server validates
 * the options itself (bad values → a message and its defaults), so values pass through
 * unchanged here. Pure: no `vscode` import, unit tested with a plain object.
 */
import { accessSync, constants, statSync } from "node:fs";
import * as path from "node:path";

/** The subset of `vscode.WorkspaceConfiguration` this module reads. */
export interface ConfigurationLike {
  get<T>(key: string): T | undefined;
}

export type ApprovalMode = "ask" | "auto" | "plan";

/** `initializationOptions` of PROTOCOL.md; a key left out takes the server's default. */
export interface InitializationOptions {
  model?: string | null;
  approvalMode?: ApprovalMode;
  codetetherHome?: string | null;
  autoStartDaemon?: boolean;
  saveAfterApply?: boolean;
}

export interface ServerCommand {
  command: string;
  args: string[];
}

export interface Settings {
  initializationOptions: InitializationOptions;
  /** The program and arguments that start `codetether lsp`, or why the setting is unusable. */
  server: ServerCommand | { error: string };
}

/** The section of all settings: `codetether.<key>`. */
export const SECTION = "codetether";

/** Settings sent to the server, in PROTOCOL.md order; `serverCommand` stays client-side. */
export const OPTION_KEYS = ["model", "approvalMode", "codetetherHome", "autoStartDaemon", "saveAfterApply"] as const;

/**
 * Options sent only when they differ from the server's default: a server older than the
 * option rejects unknown keys (and with them every option), so the default is left out.
 */
export const SENT_WHEN_CHANGED: Partial<Record<(typeof OPTION_KEYS)[number], unknown>> = { saveAfterApply: true };

/** Reads the `codetether` configuration section into the server options and command. */
export function readSettings(config: ConfigurationLike): Settings {
  const options: Record<string, unknown> = {};
  for (const key of OPTION_KEYS) {
    const value = config.get<unknown>(key);
    if (value !== undefined && !(key in SENT_WHEN_CHANGED && SENT_WHEN_CHANGED[key] === value)) {
      options[key] = value;
    }
  }
  const raw = config.get<unknown>("serverCommand");
  const valid =
    Array.isArray(raw) && raw.length > 0 && raw.every((part) => typeof part === "string" && part !== "");
  const server = valid
    ? { command: raw[0] as string, args: (raw as string[]).slice(1) }
    : { error: `${SECTION}.serverCommand must be a non-empty array of strings, got ${JSON.stringify(raw)}` };
  return { initializationOptions: options as InitializationOptions, server };
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The program `command` names, as the spawn will find it: a path (absolute, or relative
 * with a slash) as is, a bare name through `PATH`; undefined when nothing executable is there.
 */
export function findProgram(command: string, searchPath: string): string | undefined {
  if (command.includes("/")) {
    return isExecutableFile(command) ? command : undefined;
  }
  for (const dir of searchPath.split(path.delimiter)) {
    const candidate = path.join(dir || ".", command);
    if (isExecutableFile(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

/** What the user sees when the server program is missing: which setting to change, and where. */
export function missingProgramMessage(command: string): string {
  const where = command.includes("/") ? `${command} does not exist or is not executable` : `"${command}" is not on PATH`;
  return (
    `codetether: cannot start the language server: ${where}. ` +
    `Set "${SECTION}.serverCommand" in your User settings to the full path, ` +
    `e.g. ["/home/you/.venv/bin/codetether", "lsp"] (workspace settings cannot choose the program).`
  );
}
