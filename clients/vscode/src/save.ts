/**
 * `codetether/saveDocuments`: after an agent edit is applied (`workspace/applyEdit`), the
 * server asks the editor to save the files, so the agent's next tool call (a test run, a
 * bash command) reads what it was told the file now says (E6). Declared to the server
 * as `experimental.codetether.saveDocuments`; with `codetether.saveAfterApply` off the
 * server does not ask.
 */
import * as vscode from "vscode";

/** The `uris` of the request params, whatever else arrived. */
export function requestedUris(params: unknown): string[] {
  const uris = (params as { uris?: unknown } | null | undefined)?.uris;
  return Array.isArray(uris) ? uris.filter((u): u is string => typeof u === "string") : [];
}

/** Saves the open documents named; answers the ones that are now saved on disk. */
export async function saveDocuments(params: unknown): Promise<{ saved: string[] }> {
  const saved: string[] = [];
  for (const raw of requestedUris(params)) {
    // Compare normalized forms: the server and VS Code may encode a URI differently.
    const wanted = vscode.Uri.parse(raw).toString();
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === wanted);
    if (doc !== undefined && (!doc.isDirty || (await doc.save()))) {
      saved.push(raw);
    }
  }
  return { saved };
}
