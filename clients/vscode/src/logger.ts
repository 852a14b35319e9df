/** One output channel for the extension and the language client's trace. */
import * as vscode from "vscode";

let channel: vscode.LogOutputChannel | undefined;

/** The `codetether` log channel, created on first use. */
export function logger(): vscode.LogOutputChannel {
  channel ??= vscode.window.createOutputChannel("codetether", { log: true });
  return channel;
}

export function disposeLogger(): void {
  channel?.dispose();
  channel = undefined;
}
