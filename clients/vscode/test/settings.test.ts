import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

import { findProgram, missingProgramMessage, OPTION_KEYS, readSettings, SECTION, SENT_WHEN_CHANGED } from "../src/settings";
import { python, REPO } from "./paths";

interface Property {
  type: string | string[];
  default: unknown;
  enum?: unknown[];
}

const manifest = JSON.parse(readFileSync(path.resolve(__dirname, "../../package.json"), "utf8"));
const properties: Record<string, Property> = manifest.contributes.configuration.properties;

/** A configuration that answers each key with its package.json default, as VS Code does. */
function defaultsConfig(overrides: Record<string, unknown> = {}) {
  return {
    get<T>(key: string): T | undefined {
      if (key in overrides) return overrides[key] as T;
      return properties[`${SECTION}.${key}`]?.default as T | undefined;
    },
  };
}

/** Options the server-only side declares: not user settings. */
const SERVER_ONLY = new Set(["useShowMessageRequest"]);
/** Settings the client keeps to itself. */
const CLIENT_ONLY = new Set(["serverCommand"]);

function serverDefaults(): { defaults: Record<string, unknown> | undefined; why: string } {
  const py = python();
  if (!existsSync(path.join(REPO, "lsp", "options.py"))) {
    return { defaults: undefined, why: "lsp/options.py does not exist yet" };
  }
  const out = execFileSync(
    py,
    ["-c", "import json, msgspec; from codetether.lsp.options import Options; print(json.dumps(msgspec.to_builtins(Options())))"],
    { encoding: "utf8", cwd: REPO },
  );
  return { defaults: JSON.parse(out), why: "" };
}

describe("package.json settings", () => {
  it("declares every server option with the server's default", (t) => {
    const { defaults, why } = serverDefaults();
    if (defaults === undefined) {
      t.skip(why);
      return;
    }
    const settingKeys = Object.keys(properties).map((k) => k.slice(SECTION.length + 1));
    // An option sent only when changed may be newer than the server: then it is not sent.
    const newer = (k: string) => k in SENT_WHEN_CHANGED && !(k in defaults);
    assert.deepEqual(
      settingKeys.filter((k) => !CLIENT_ONLY.has(k) && !newer(k)).sort(),
      Object.keys(defaults).filter((k) => !SERVER_ONLY.has(k)).sort(),
    );
    for (const key of OPTION_KEYS.filter((k) => !newer(k))) {
      assert.deepEqual(properties[`${SECTION}.${key}`].default, defaults[key], `default of ${key}`);
    }
  });

  it("sends exactly the server's defaults when nothing is set", (t) => {
    const { defaults } = serverDefaults();
    if (defaults === undefined) {
      t.skip("lsp/options.py does not exist yet");
      return;
    }
    const expected = Object.fromEntries(
      Object.entries(defaults).filter(([k]) => !SERVER_ONLY.has(k) && !(k in SENT_WHEN_CHANGED)),
    );
    assert.deepEqual(readSettings(defaultsConfig()).initializationOptions, expected);
  });

  it("offers the approval modes the protocol documents", () => {
    assert.deepEqual(properties["codetether.approvalMode"].enum, ["ask", "auto", "plan"]);
    assert.deepEqual(properties["codetether.serverCommand"].default, ["codetether", "lsp"]);
  });

  it("contributes a command for each server command the UI offers", () => {
    const ids = (manifest.contributes.commands as { command: string }[]).map((c) => c.command);
    for (const id of ["chat", "cancel", "newSession", "sessions", "resume", "model", "planMode", "approve",
      "reject", "showDiff", "review", "status"]) {
      assert.ok(ids.includes(`codetether.${id}`), id);
      assert.ok((manifest.activationEvents as string[]).includes(`onCommand:codetether.${id}`), id);
    }
  });
});

describe("readSettings", () => {
  it("passes set values through and leaves unset keys to the server", () => {
    const settings = readSettings({
      get<T>(key: string) {
        return ({ model: "openai/gpt-4o", approvalMode: "plan", serverCommand: ["/x/codetether", "lsp"] } as Record<string, unknown>)[key] as T;
      },
    });
    assert.deepEqual(settings.initializationOptions, { model: "openai/gpt-4o", approvalMode: "plan" });
    assert.deepEqual(settings.server, { command: "/x/codetether", args: ["lsp"] });
  });

  it("keeps explicit nulls (the daemon's default model)", () => {
    const settings = readSettings(defaultsConfig({ codetetherHome: "/tmp/ct1" }));
    assert.equal(settings.initializationOptions.model, null);
    assert.equal(settings.initializationOptions.codetetherHome, "/tmp/ct1");
  });

  it("reports an unusable server command instead of guessing", () => {
    for (const bad of [[], "codetether lsp", ["codetether", 3], [""]]) {
      const settings = readSettings(defaultsConfig({ serverCommand: bad }));
      assert.ok("error" in settings.server, JSON.stringify(bad));
      assert.match(settings.server.error, /codetether\.serverCommand/);
    }
  });
});

describe("saveAfterApply (E6)", () => {
  it("is sent only when turned off, so a server without the option keeps its other options", () => {
    assert.equal("saveAfterApply" in readSettings(defaultsConfig()).initializationOptions, false);
    assert.equal(readSettings(defaultsConfig({ saveAfterApply: false })).initializationOptions.saveAfterApply, false);
  });
});

describe("serverCommand (E5)", () => {
  it("cannot be set by a workspace, and says where to set it", () => {
    assert.equal((properties[`${SECTION}.serverCommand`] as Property & { scope: string }).scope, "application");
  });

  it("finds the program on PATH or at its path, and names the setting when it is missing", () => {
    assert.equal(findProgram("node", process.env.PATH ?? ""), execFileSync("sh", ["-c", "command -v node"], { encoding: "utf8" }).trim());
    assert.equal(findProgram(process.execPath, ""), process.execPath);
    assert.equal(findProgram("codetether-no-such-program", process.env.PATH ?? ""), undefined);
    assert.equal(findProgram("/no/such/codetether", ""), undefined);
    assert.equal(findProgram("/tmp", ""), undefined); // a directory is not a program
    const message = missingProgramMessage("codetether");
    assert.match(message, /"codetether" is not on PATH/);
    assert.match(message, /codetether\.serverCommand/);
    assert.match(message, /User settings/);
  });
});
