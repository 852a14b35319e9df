import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

import { OPTION_KEYS, readSettings, SECTION } from "../src/settings";
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
    assert.deepEqual(
      settingKeys.filter((k) => !CLIENT_ONLY.has(k)).sort(),
      Object.keys(defaults).filter((k) => !SERVER_ONLY.has(k)).sort(),
    );
    for (const key of OPTION_KEYS) {
      assert.deepEqual(properties[`${SECTION}.${key}`].default, defaults[key], `default of ${key}`);
    }
  });

  it("sends exactly the server's defaults when nothing is set", (t) => {
    const { defaults } = serverDefaults();
    if (defaults === undefined) {
      t.skip("lsp/options.py does not exist yet");
      return;
    }
    const expected = Object.fromEntries(Object.entries(defaults).filter(([k]) => !SERVER_ONLY.has(k)));
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
