/**
 * A small fake of the `vscode` module for unit tests: enough API for the extension's
 * modules to load and for the parts under test to run, with every UI call recorded.
 * `install()` must run before the module under test is first required.
 */
import Module = require("node:module");

export interface Call {
  fn: string;
  args: unknown[];
}

class EventEmitter<T> {
  private listeners: ((e: T) => void)[] = [];
  event = (listener: (e: T) => void) => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };
  fire(e: T): void {
    for (const l of this.listeners) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

class Uri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
    readonly query: string,
  ) {}
  static from(c: { scheme: string; path?: string; query?: string }): Uri {
    return new Uri(c.scheme, c.path ?? "", c.query ?? "");
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(base.scheme, [base.path, ...parts].join("/"), "");
  }
  static parse(s: string): Uri {
    const i = s.indexOf(":");
    return new Uri(s.slice(0, i), s.slice(i + 1), "");
  }
  toString(): string {
    return `${this.scheme}:${this.path}${this.query ? `?${this.query}` : ""}`;
  }
}

class ThemeColor {
  constructor(readonly id: string) {}
}

export interface FakeStatusBarItem {
  text: string;
  tooltip: unknown;
  command: unknown;
  name: string;
  backgroundColor: ThemeColor | undefined;
  visible: boolean;
  show(): void;
  dispose(): void;
}

/** The fake's state: recorded calls and the answers the UI calls give next. */
export const fake = {
  calls: [] as Call[],
  /** Queued answers for showWarningMessage / showInformationMessage / showQuickPick / showInputBox. */
  answers: [] as unknown[],
  statusItems: [] as FakeStatusBarItem[],
  /** The open tabs (one editor group); `tabGroups.close` removes the ones it is given. */
  tabs: [] as { label: string; input: unknown }[],
  reset(): void {
    this.calls.length = 0;
    this.answers.length = 0;
    this.statusItems.length = 0;
    this.tabs.length = 0;
  },
  called(fn: string): Call[] {
    return this.calls.filter((c) => c.fn === fn);
  },
};

function ui(fn: string) {
  return async (...args: unknown[]) => {
    fake.calls.push({ fn, args });
    return fake.answers.shift();
  };
}

const disposable = { dispose() {} };

const vscode = {
  version: "1.90.0",
  EventEmitter,
  Uri,
  ThemeColor,
  StatusBarAlignment: { Left: 1, Right: 2 },
  ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
  window: {
    showWarningMessage: ui("showWarningMessage"),
    showInformationMessage: ui("showInformationMessage"),
    showErrorMessage: ui("showErrorMessage"),
    showQuickPick: ui("showQuickPick"),
    showInputBox: ui("showInputBox"),
    createStatusBarItem(...args: unknown[]): FakeStatusBarItem {
      fake.calls.push({ fn: "createStatusBarItem", args });
      const item: FakeStatusBarItem = {
        text: "",
        tooltip: undefined,
        command: undefined,
        name: "",
        backgroundColor: undefined,
        visible: false,
        show() {
          this.visible = true;
        },
        dispose() {
          this.visible = false;
        },
      };
      fake.statusItems.push(item);
      return item;
    },
    createOutputChannel: () => withStubs("outputChannel", {}),
    registerWebviewViewProvider: () => disposable,
    activeTextEditor: undefined,
    tabGroups: {
      get all() {
        return [{ tabs: [...fake.tabs] }];
      },
      async close(tabs: unknown, ...rest: unknown[]) {
        fake.calls.push({ fn: "closeTabs", args: [tabs, ...rest] });
        // By label: the tabs handed out were wrapped in stub proxies (withStubs).
        const closing = new Set((Array.isArray(tabs) ? tabs : [tabs]).map((t: { label: string }) => t.label));
        fake.tabs = fake.tabs.filter((t) => !closing.has(t.label));
        return true;
      },
    },
  },
  workspace: {
    registerTextDocumentContentProvider(...args: unknown[]) {
      fake.calls.push({ fn: "registerTextDocumentContentProvider", args });
      return disposable;
    },
    getConfiguration: () => ({ get: () => undefined }),
    workspaceFolders: undefined,
  },
  commands: {
    executeCommand: ui("executeCommand"),
    registerCommand: () => disposable,
  },
};

/**
 * Any API the fake does not define (vscode-languageclient touches many at load and
 * construction) is a stub: a class or function whose members, and whose results when
 * called, are stubs too (never thenable), so event subscriptions return disposables.
 */
function stub(name: string): unknown {
  const target = function () {} as unknown as Record<string | symbol, unknown>;
  return new Proxy(target, {
    get: (t, prop) =>
      prop in t ? t[prop] : typeof prop === "string" && prop !== "then" ? stub(`${name}.${prop}`) : undefined,
    apply: () => stub(`${name}()`),
    construct: () => stub(`new ${name}`) as object,
  });
}

function withStubs<T extends object>(name: string, real: T): T {
  return new Proxy(real, {
    get: (t, prop) => {
      if (typeof prop !== "string" || prop in t) {
        const value = (t as Record<string | symbol, unknown>)[prop];
        return value !== null && typeof value === "object" ? withStubs(`${name}.${String(prop)}`, value) : value;
      }
      return prop === "then" ? undefined : stub(`${name}.${prop}`);
    },
  });
}

let installed = false;

/** Makes `require("vscode")` return the fake. */
export function install(): typeof fake {
  if (!installed) {
    const id = "\0fake-vscode";
    const cached = new Module(id);
    cached.exports = withStubs("vscode", vscode);
    cached.loaded = true;
    const M = Module as unknown as {
      _cache: Record<string, unknown>;
      _resolveFilename: (request: string, ...rest: unknown[]) => string;
    };
    M._cache[id] = cached;
    const resolve = M._resolveFilename;
    M._resolveFilename = function (request: string, ...rest: unknown[]) {
      return request === "vscode" ? id : resolve.call(this, request, ...rest);
    };
    installed = true;
  }
  return fake;
}

// Installed on import, so `import "./fakeVscode"` first in a test file is enough:
// CommonJS output requires modules in import order.
install();
