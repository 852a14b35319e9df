/**
 * The chat's state in a file of the workspace's storage folder (`context.storageUri`).
 *
 * The workspace Memento is written to disk by the workbench some time after `update`
 * resolves; a window reloaded right after a change (code-server, a browser tab) can come
 * back with the state from before it. A file written by the extension host, synchronously
 * and by rename, is on disk before the view shows the change. Keys the file does not have
 * are read from the Memento (state an earlier version kept there).
 */
import * as fs from "node:fs";
import * as path from "node:path";

import type { StateStore } from "./chatView";
import { logger } from "./logger";

const FILE = "codetether-state.json";

export class FileState implements StateStore {
  private readonly file: string;
  private data: Record<string, unknown> = {};

  constructor(
    private readonly dir: string,
    private readonly fallback?: StateStore,
  ) {
    this.file = path.join(dir, FILE);
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(this.file, "utf8"));
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
        this.data = parsed as Record<string, unknown>;
      }
    } catch {
      // none yet, or unreadable: start empty (the Memento still answers)
    }
  }

  get<T>(key: string): T | undefined {
    return key in this.data ? (structuredClone(this.data[key]) as T) : this.fallback?.get<T>(key);
  }

  /** On disk before it returns; when the file cannot be written, the Memento keeps the value. */
  update(key: string, value: unknown): Thenable<void> {
    this.data[key] = structuredClone(value);
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      fs.writeFileSync(tmp, JSON.stringify(this.data), { mode: 0o600 });
      fs.renameSync(tmp, this.file);
    } catch (err) {
      try {
        fs.rmSync(tmp, { force: true }); // a half-written copy is not left behind
      } catch {
        // the folder itself is unusable: there is no copy to remove
      }
      logger().warn(`chat state not written to ${this.file}: ${err instanceof Error ? err.message : String(err)}`);
      delete this.data[key];
      return this.fallback?.update(key, value) ?? Promise.resolve();
    }
    return Promise.resolve();
  }
}
