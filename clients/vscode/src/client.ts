/**
 * The language client: `codetether lsp` over stdio, started from the settings.
 *
 * Owns one `LanguageClient` at a time. Restarts are coalesced: a restart asked for
 * while one runs is folded into a single follow-up restart, so a burst of settings
 * changes starts the server at most twice.
 */
import * as vscode from "vscode";
import {
  type ClientCapabilities,
  type DynamicFeature,
  ExecuteCommandRequest,
  type FeatureState,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  type StaticFeature,
  TransportKind,
} from "vscode-languageclient/node";

import { logger } from "./logger";
import type { CommandName } from "./protocol";
import { findProgram, missingProgramMessage, readSettings, SECTION } from "./settings";

/**
 * Declares `experimental.codetether`: `approvals` (this client renders approvals itself)
 * and `saveDocuments` (it answers `codetether/saveDocuments`, so applied agent edits are
 * saved by the editor rather than written behind its back).
 */
export class ApprovalsFeature implements StaticFeature {
  fillClientCapabilities(capabilities: ClientCapabilities): void {
    const experimental = (capabilities.experimental ?? {}) as Record<string, unknown>;
    const ours = (experimental.codetether ?? {}) as Record<string, unknown>;
    capabilities.experimental = { ...experimental, codetether: { ...ours, approvals: true, saveDocuments: true } };
  }
  initialize(): void {}
  getState(): FeatureState {
    return { kind: "static" };
  }
  clear(): void {}
}

/**
 * A LanguageClient without the built-in executeCommand feature. That feature registers
 * a VS Code command for every server command; ours (commands.ts) own those ids, ask
 * for missing arguments and render results, so two registrations would collide.
 */
export class CodetetherLanguageClient extends LanguageClient {
  override registerFeature(feature: StaticFeature | DynamicFeature<unknown>): void {
    const method = (feature as Partial<DynamicFeature<unknown>>).registrationType?.method;
    if (method === ExecuteCommandRequest.method) {
      return;
    }
    super.registerFeature(feature);
  }
}

/** Called on each new client before it starts: hook notification handlers here. */
export type ClientHook = (client: LanguageClient) => void;

export class Server implements vscode.Disposable {
  private client: LanguageClient | undefined;
  /** The start, stop or restart in flight; guards `client` against concurrent changes. */
  private busy: Promise<void> = Promise.resolve();
  private restartQueued = false;
  private readonly changed = new vscode.EventEmitter<LanguageClient | undefined>();
  /** Fires with the new client after a start, `undefined` after a stop. */
  readonly onDidChangeClient = this.changed.event;

  constructor(private readonly hook: ClientHook) {}

  get current(): LanguageClient | undefined {
    return this.client;
  }

  start(): Promise<void> {
    return this.serialize(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.serialize(() => this.doStop());
  }

  /** Restarts with fresh settings; calls during a restart coalesce into one more. */
  restart(): Promise<void> {
    if (this.restartQueued) {
      return this.busy;
    }
    this.restartQueued = true;
    return this.serialize(async () => {
      this.restartQueued = false;
      await this.doStop();
      await this.doStart();
    });
  }

  /** Runs a server command (`workspace/executeCommand`). */
  async execute<T>(command: CommandName, args: unknown[] = []): Promise<T> {
    await this.busy;
    const client = this.client;
    if (client === undefined || !client.isRunning()) {
      throw new Error("the codetether language server is not running (codetether: Restart Server)");
    }
    return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args })) as T;
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.changed.dispose();
  }

  private serialize(step: () => Promise<void>): Promise<void> {
    const next = this.busy.then(step, step);
    this.busy = next.catch((err: unknown) => {
      logger().error(`codetether server: ${err instanceof Error ? err.message : String(err)}`);
    });
    return next;
  }

  private async doStart(): Promise<void> {
    const settings = readSettings(vscode.workspace.getConfiguration(SECTION));
    if ("error" in settings.server) {
      void vscode.window.showErrorMessage(settings.server.error);
      throw new Error(settings.server.error);
    }
    // Checked before spawning: an ENOENT from the language client names no setting (E5).
    const program = findProgram(settings.server.command, process.env.PATH ?? "");
    if (program === undefined) {
      const message = missingProgramMessage(settings.server.command);
      void vscode.window.showErrorMessage(message);
      throw new Error(message);
    }
    const serverOptions: ServerOptions = {
      command: program,
      args: settings.server.args,
      transport: TransportKind.stdio,
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      initializationOptions: settings.initializationOptions,
      outputChannel: logger(),
      // Our own output shows server failures; no extra popup per crash.
      revealOutputChannelOn: 4 /* RevealOutputChannelOn.Never */,
    };
    const client = new CodetetherLanguageClient("codetether", "codetether", serverOptions, clientOptions);
    client.registerFeature(new ApprovalsFeature());
    this.hook(client);
    logger().info(`starting ${[settings.server.command, ...settings.server.args].join(" ")}`);
    try {
      await client.start();
    } catch (err) {
      await client.dispose().catch(() => undefined);
      if ((err as { code?: unknown } | undefined)?.code === "ENOENT") {
        throw new Error(missingProgramMessage(settings.server.command));
      }
      throw err;
    }
    this.client = client;
    this.changed.fire(client);
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) {
      return;
    }
    this.changed.fire(undefined);
    try {
      await client.stop();
    } catch (err) {
      logger().warn(`stopping the server: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
