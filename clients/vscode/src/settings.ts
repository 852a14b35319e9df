/**
 * Settings → the language server's `initializationOptions`.
 *
 * Every setting is declared once, with its default, in package.json
 * (`contributes.configuration`); VS Code fills the defaults in. The server validates
 * the options itself (bad values → a message and its defaults), so values pass through
 * unchanged here. Pure: no `vscode` import, unit tested with a plain object.
 */

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
export const OPTION_KEYS = ["model", "approvalMode", "codetetherHome", "autoStartDaemon"] as const;

/** Reads the `codetether` configuration section into the server options and command. */
export function readSettings(config: ConfigurationLike): Settings {
  const options: Record<string, unknown> = {};
  for (const key of OPTION_KEYS) {
    const value = config.get<unknown>(key);
    if (value !== undefined) {
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
