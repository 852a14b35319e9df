/**
 * Drives code-server (real VS Code in the browser) through headless Chromium, as a user of the
 * codetether extension would. Run by tests/e2e/test_vscode_real.py, which starts code-server with
 * the packaged extension and a scripted model whose turns match the steps below, in order.
 *
 * Every wait is on a condition (a selector, the editor text, a file on disk) with a timeout,
 * never a fixed sleep. Each step takes a screenshot into DRIVE.shots; a failure takes one more
 * and exits 1 naming the step.
 *
 * Environment: VSCODE_E2E_PLAYWRIGHT (playwright-core's folder), VSCODE_E2E_CHROMIUM, and
 * DRIVE: JSON {url, workspace, shots, mode?}; mode "missing-program" checks only E5's error;
 * mode "okr" runs `/go` through the OKR gate (tests/e2e/test_vscode_okr.py), DRIVE_OKR_ROUNDS times;
 * mode "chat" runs the chat view's own scenario (tests/e2e/test_vscode_chat.py).
 */
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { chromium } = require(process.env.VSCODE_E2E_PLAYWRIGHT);

const cfg = JSON.parse(process.env.DRIVE);
const FILE = path.join(cfg.workspace, "hello.py");
const TIMEOUT = 45_000;

let page;
let shots = 0;
let step = "start";

function log(message) {
  process.stdout.write(`[drive] ${message}\n`);
}

async function shot(name) {
  shots += 1;
  await page.screenshot({ path: path.join(cfg.shots, `${String(shots).padStart(2, "0")}-${name}.png`) });
}

/** Polls `check` (sync or async) until it returns something truthy; fails naming `what`. */
async function until(what, check, timeout = TIMEOUT) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) {
      return value;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function begin(name) {
  step = name;
  log(`step: ${name}`);
}

const disk = () => fs.readFileSync(FILE, "utf8");

// -- the workbench ------------------------------------------------------------------------------

const chat = () => page.frameLocator("iframe.webview.ready").frameLocator("#active-frame");
const statusItem = () => page.locator('[id="codetether.codetether.codetether.status"]');
const toast = (text) => page.locator(".notifications-toasts .notification-toast", { hasText: text });
const diffTab = () => page.locator(".tabs-container .tab", { hasText: "↔ agent edit" });
const fileTab = () => page.locator('.tabs-container .tab[aria-label^="hello.py"]:not(:has-text("↔"))');

/** The text of the hello.py editor as Monaco renders it (lines joined, no trailing blank). */
async function editorText() {
  return page.evaluate(() => {
    const editors = [...document.querySelectorAll(".editor-instance .monaco-editor:not(.original-in-monaco-diff-editor)")];
    const editor = editors.find((e) => !e.closest(".monaco-diff-editor"));
    if (!editor) {
      return "";
    }
    const lines = [...editor.querySelectorAll(".view-lines .view-line")]
      .map((l) => ({ top: parseFloat(l.style.top), text: l.textContent.replace(/\u00a0/g, " ") }))
      .sort((a, b) => a.top - b.top);
    return lines.map((l) => l.text).join("\n");
  });
}

async function openChat() {
  // Idempotent: after a reload the workbench may restore the view open by itself, and a
  // click on the active container's icon would close it again. Click only while it is not
  // the active container, until the chat's input shows.
  const item = page.locator('.activitybar a[aria-label^="codetether"]');
  await until("the chat view to open", async () => {
    if (await chat().locator("#t").isVisible().catch(() => false)) {
      return true;
    }
    const active = await item.evaluate((a) => a.closest(".action-item")?.classList.contains("checked") ?? false)
      .catch(() => false);
    if (!active) {
      await item.click();
    }
    return false;
  });
}

/** The chat transcript as text. */
async function transcript() {
  return chat().locator("#log").innerText({ timeout: TIMEOUT });
}

async function send(prompt) {
  await chat().locator("#t").fill(prompt);
  await chat().locator('button[type="submit"]').click();
}

/** E4: after a turn the status item leaves "working" (no spinner) and says no jargon (E7). */
async function statusSettled() {
  await until("the status item to stop spinning after the turn (E4)", async () => {
    const spinning = await statusItem().locator(".codicon-sync, .codicon-modifier-spin").count();
    return spinning === 0;
  }, 15_000);
  const text = await statusItem().innerText();
  if (/unpriced/i.test(text)) {
    throw new Error(`the status item says "${text}" (E7)`);
  }
  return text;
}

async function closedAfterDecision(what) {
  await until(`the "↔ agent edit" diff tab to close after ${what} (E3)`, async () => (await diffTab().count()) === 0);
  await until(`the Apply/Reject toast to go after ${what} (E3)`,
    async () => (await toast("codetether wants to change").count()) === 0);
}

// -- the scenario -------------------------------------------------------------------------------

async function scenario() {
  await begin("open the workspace");
  await page.goto(cfg.url);
  await page.locator(".monaco-workbench").waitFor({ timeout: 90_000 });
  await page.locator('.activitybar a[aria-label^="codetether"]').waitFor({ timeout: 90_000 });

  await begin("open hello.py (a preview tab)");
  await page.locator(".monaco-workbench .part.editor").click();
  await page.keyboard.press("Control+p");
  await page.locator(".quick-input-widget input").waitFor({ timeout: TIMEOUT });
  await page.keyboard.type("hello.py");
  await page.locator(".quick-input-list .monaco-list-row", { hasText: "hello.py" }).first().waitFor({ timeout: TIMEOUT });
  await page.keyboard.press("Enter");
  await fileTab().waitFor({ timeout: TIMEOUT });
  await until("hello.py's text in the editor", async () => (await editorText()).includes('x = "world"'));
  await shot("file-open");

  await begin("the language server starts (E1)");
  // The status item shows token counts once the extension has talked to the server.
  await until("the status item to show the server's status (E1: codetether lsp started)",
    async () => (await statusItem().innerText()).includes("↑"), 60_000);

  await begin("chat: a streamed answer");
  await openChat();
  await send("say hello");
  await until("the answer in the chat view", async () => (await transcript()).includes("Hello from the agent."));
  const first = await transcript();
  if (!first.includes("say hello")) {
    throw new Error(`the prompt is missing from the transcript: ${first}`);
  }
  await statusSettled();
  await shot("chat-answer");

  await begin("E2: history survives switching to Explorer and back");
  await page.click('.activitybar a[aria-label^="Explorer"]');
  await page.locator(".explorer-folders-view").waitFor({ timeout: TIMEOUT });
  await openChat();
  await until("the history after switching back", async () => (await transcript()).includes("Hello from the agent."));
  await shot("chat-after-explorer");

  await begin("a proposal applied from the diff view");
  await send("change world to there");
  await diffTab().waitFor({ timeout: TIMEOUT });
  await toast("codetether wants to change hello.py").waitFor({ timeout: TIMEOUT });
  if ((await fileTab().count()) !== 1) {
    throw new Error("opening the diff replaced the user's hello.py preview tab (E3)");
  }
  await shot("proposal-diff");
  await page.locator(".editor-actions .action-label[aria-label^='Approve']").click();
  await closedAfterDecision("Apply");
  await until("the applied edit on disk (E6: saved after apply)", () => disk().includes('x = "there"'));
  await fileTab().click();
  await until("the applied edit in the editor", async () => (await editorText()).includes('x = "there"'));
  if (await fileTab().evaluate((tab) => tab.classList.contains("dirty"))) {
    throw new Error("hello.py is left unsaved after the agent edit was applied (E6)");
  }
  await until("the agent's reply after the edit", async () => (await transcript()).includes("Changed it."));
  await statusSettled();
  await shot("proposal-applied");

  await begin("a proposal rejected through the code action (Ctrl+.)");
  await send("change it again");
  await diffTab().waitFor({ timeout: TIMEOUT });
  await toast("codetether wants to change hello.py").waitFor({ timeout: TIMEOUT });
  await fileTab().click();
  await until("hello.py in the editor", async () => (await editorText()).includes('x = "there"'));
  await page.locator(".editor-instance .monaco-editor .view-line").first().click();
  await page.keyboard.press("Control+Home");
  const reject = page.locator(".action-widget .action-item, .action-widget .monaco-list-row", { hasText: "Reject agent edit" });
  await until("the code action menu offering \"Reject agent edit\"", async () => {
    if ((await reject.count()) > 0) {
      return true;
    }
    await page.keyboard.press("Control+.");
    await page.locator(".action-widget").waitFor({ timeout: 5_000 }).catch(() => undefined);
    return (await reject.count()) > 0;
  });
  await shot("code-action-menu");
  await reject.first().click();
  await closedAfterDecision("Reject through the code action");
  await until("the agent's reply after the rejection", async () => (await transcript()).includes("Left it as it was."));
  if (!disk().includes('x = "there"') || disk().includes("again")) {
    throw new Error(`the rejected edit reached the disk: ${disk()}`);
  }
  const text = await editorText();
  if (!text.includes('x = "there"') || text.includes("again")) {
    throw new Error(`the rejected edit reached the editor: ${text}`);
  }
  await statusSettled();
  await shot("proposal-rejected");

  await begin("a bash call allowed in the modal dialog");
  await send("show me the file");
  const dialog = page.locator(".monaco-dialog-box", { hasText: "Allow bash?" });
  await dialog.waitFor({ timeout: TIMEOUT });
  await shot("bash-dialog");
  await dialog.locator(".monaco-button", { hasText: "Allow" }).click();
  await until("the agent's reply after bash", async () => (await transcript()).includes("Ran it."));
  const seen = path.join(cfg.workspace, "seen.txt");
  await until("seen.txt written by the allowed bash call", () => fs.existsSync(seen));
  // E6: the agent's command reads the applied edit from disk, not the stale file.
  if (!fs.readFileSync(seen, "utf8").includes('x = "there"')) {
    throw new Error(`bash saw the old file: ${fs.readFileSync(seen, "utf8")}`);
  }
  await statusSettled();

  await begin("S6: a proposal withdrawn by Stop (run cancelled)");
  await send("change it to stop");
  await diffTab().waitFor({ timeout: TIMEOUT });
  await toast("codetether wants to change hello.py").waitFor({ timeout: TIMEOUT });
  await chat().locator("#c").click();
  await until("the withdrawn proposal's diff tab to close (S6)", async () => (await diffTab().count()) === 0);
  await until("the withdrawn proposal's toast to go (S6)",
    async () => (await toast("codetether wants to change").count()) === 0);
  if (disk().includes("stop")) {
    throw new Error(`the withdrawn edit reached the disk: ${disk()}`);
  }
  await statusSettled();
  await shot("proposal-withdrawn");

  await begin("E2 again: the whole history after Explorer and back");
  await page.click('.activitybar a[aria-label^="Explorer"]');
  await page.locator(".explorer-folders-view").waitFor({ timeout: TIMEOUT });
  await openChat();
  const all = await until("the whole history", async () => {
    const t = await transcript();
    return ["say hello", "Hello from the agent.", "Changed it.", "Left it as it was.", "Ran it."].every((s) => t.includes(s)) && t;
  });
  await shot("final");
  log(`transcript: ${JSON.stringify(all)}`);
  log(`status: ${JSON.stringify(await statusItem().innerText())}`);
}

/** E5: without `codetether.serverCommand` and no `codetether` on PATH, the error says what to set. */
async function missingProgram() {
  await begin("open the workspace");
  await page.goto(cfg.url);
  await page.locator(".monaco-workbench").waitFor({ timeout: 90_000 });
  await begin("the missing program's error names the setting (E5)");
  const error = toast("codetether.serverCommand");
  await error.waitFor({ timeout: 60_000 });
  const text = await error.innerText();
  for (const part of ['"codetether" is not on PATH', "User settings"]) {
    if (!text.includes(part)) {
      throw new Error(`the error does not say ${JSON.stringify(part)}: ${text}`);
    }
  }
  await until("the status item to show the server is down",
    async () => (await statusItem().locator(".codicon-debug-disconnect").count()) > 0);
  await shot("missing-program");
  log(`error: ${JSON.stringify(text)}`);
}

/**
 * `/go` in the chat, `rounds` times: the gate's modal shows the objective and both key results;
 * Deny with a reason; the re-drafted objective's modal; Approve; "/go completed" in the chat.
 * Prints one `gate {...}` line per gate: when its modal was visible and when the decision left
 * the page (the click, or Enter in the reason box), epoch ms, for the test to set beside the
 * daemon's own times.
 */
async function okr() {
  const rounds = Number(process.env.DRIVE_OKR_ROUNDS || "1");
  await begin("open the workspace");
  await page.goto(cfg.url);
  await page.locator(".monaco-workbench").waitFor({ timeout: 90_000 });
  await page.locator('.activitybar a[aria-label^="codetether"]').waitFor({ timeout: 90_000 });
  await begin("the language server starts");
  await until("the status item to show the server's status",
    async () => (await statusItem().innerText()).includes("↑"), 60_000);
  await openChat();

  const gate = async (title) => {
    const dialog = page.locator(".monaco-dialog-box", { hasText: `Approve objective: ${title}` });
    await dialog.waitFor({ timeout: TIMEOUT });
    const shown = Date.now();
    const text = await dialog.innerText();
    for (const part of [title, "a file that says it is done",
      "KR1. done.txt exists (target 1, binary) — measured by file: done.txt",
      "KR2. it says done (target 1, binary) — measured by command: grep -q done done.txt"]) {
      if (!text.includes(part)) {
        throw new Error(`the OKR gate does not show ${JSON.stringify(part)}: ${text}`);
      }
    }
    return { dialog, shown };
  };
  const completed = async () => ((await transcript()).match(/\/go completed: /g) || []).length;

  for (let round = 1; round <= rounds; round += 1) {
    const vague = `Too vague ${round}`;
    const ship = `Ship done.txt ${round}`;
    const reason = `say which file, round ${round}`;
    await begin(`round ${round}: /go in the chat, the gate shows the objective and its key results`);
    await send(`/go ship a done file (${round})`);
    const first = await gate(vague);
    if (round === 1) {
      await shot("okr-gate");
    }
    await begin(`round ${round}: Deny, with a reason`);
    await first.dialog.locator(".monaco-button", { hasText: "Deny" }).click();
    const box = page.locator(".quick-input-widget input");
    await box.waitFor({ timeout: TIMEOUT });
    await box.fill(reason);
    if (round === 1) {
      await shot("okr-deny-reason");
    }
    const denied = Date.now();
    await box.press("Enter");
    log(`gate ${JSON.stringify({ title: vague, decision: "deny", shown: first.shown, decided: denied })}`);

    await begin(`round ${round}: the re-drafted objective's gate; Approve`);
    const second = await gate(ship);
    const approve = second.dialog.locator(".monaco-button", { hasText: "Approve" });
    await approve.waitFor({ timeout: TIMEOUT });
    const approved = Date.now();
    await approve.click();
    log(`gate ${JSON.stringify({ title: ship, decision: "approve", shown: second.shown, decided: approved })}`);

    await begin(`round ${round}: "/go completed" in the chat`);
    await until(`"/go completed" ${round} time(s) in the chat`, async () => (await completed()) >= round, 60_000);
    const t = await transcript();
    if (!t.includes(reason)) {
      throw new Error(`the chat does not show the denial's reason ${JSON.stringify(reason)}: ${t}`);
    }
    await statusSettled();
    if (round === 1) {
      await shot("okr-completed");
    }
  }
  log(`transcript: ${JSON.stringify(await transcript())}`);
}

/**
 * The chat view (issue 12): Markdown rendered and sanitized, tool calls as cards with their
 * output and an edit's diff, the model picker, the session list resuming a session, and the
 * history after a reload of the window (tests/e2e/test_vscode_chat.py).
 */
async function chatView() {
  const view = () => chat().locator("#log");
  await begin("open the workspace");
  await page.goto(cfg.url);
  await page.locator(".monaco-workbench").waitFor({ timeout: 90_000 });
  await page.locator('.activitybar a[aria-label^="codetether"]').waitFor({ timeout: 90_000 });
  await until("the status item to show the server's status",
    async () => (await statusItem().innerText()).includes("↑"), 60_000);
  await openChat();

  await begin("the model picker lists the daemon's models");
  await chat().locator("#model").focus();
  await until("the model picker's options", async () =>
    (await chat().locator("#model option").allInnerTexts()).some((t) => t.includes("scripted-model")));
  log(`models: ${JSON.stringify(await chat().locator("#model option").allInnerTexts())}`);

  await begin("a Markdown answer: rendered, its HTML shown as text and never run");
  await send("show markdown");
  await view().locator("h1", { hasText: "Markdown heading" }).waitFor({ timeout: TIMEOUT });
  await until("the list's two items", async () => (await view().locator("ul > li").count()) === 2);
  await until("the highlighted code block", async () => (await view().locator("pre code .hljs-keyword").count()) > 0);
  const text = await transcript();
  for (const part of ['<img src=x onerror="document.body.dataset.pwned=1">', "<script>document.body.dataset.pwned=2</script>"]) {
    if (!text.includes(part)) {
      throw new Error(`the model's HTML is not shown as text (${JSON.stringify(part)}): ${text}`);
    }
  }
  for (const bad of ["img", "script", "[onerror]"]) {
    if ((await view().locator(bad).count()) !== 0) {
      throw new Error(`the model's HTML became an element: ${bad}`);
    }
  }
  if ((await chat().locator("body[data-pwned]").count()) !== 0) {
    throw new Error("the model's HTML ran in the chat webview");
  }
  await statusSettled();
  await shot("chat-markdown");

  await begin("a tool call as a card with its output");
  await send("run the command");
  const card = view().locator("details.tool", { has: chat().locator(".name", { hasText: "bash" }) });
  await card.waitFor({ timeout: TIMEOUT });
  await until("the agent's reply after the command", async () => (await transcript()).includes("Ran the command."));
  await card.locator("summary").click();
  await until("the command's output in the card", async () =>
    (await card.locator("pre.output, pre.result").allInnerTexts()).some((t) => t.includes("card-output-42")));
  if (!(await card.locator("pre.arguments").innerText()).includes("echo card-output")) {
    throw new Error("the card does not show the call's arguments");
  }
  await statusSettled();
  await shot("chat-tool-card");

  await begin("an edit as a card with its diff");
  await send("edit the file");
  const edit = view().locator("details.tool", { has: chat().locator(".name", { hasText: "edit" }) });
  await edit.waitFor({ timeout: TIMEOUT });
  await until("the agent's reply after the edit", async () => (await transcript()).includes("Edited it."), 60_000);
  await until("the edit applied on disk", () => disk().includes("cards"));
  await edit.locator("summary").click();
  await until("the edit's diff in its card", async () =>
    (await edit.locator("pre.diff").allInnerTexts()).some((t) => t.includes('+x = "cards"')), 15_000);
  await statusSettled();
  await shot("chat-edit-card");

  await begin("a new session, then the session list resumes the first");
  await chat().locator("#n").click();
  await until("an empty transcript for the new session", async () => !(await transcript()).includes("Markdown heading"));
  await send("second session");
  await until("the second session's answer", async () => (await transcript()).includes("Second answer."));
  await statusSettled();
  const sessions = chat().locator("#sessions");
  await sessions.focus();
  await until("both sessions in the session list", async () => (await sessions.locator("option").count()) >= 3);
  const options = await sessions.locator("option").evaluateAll((os) => os.map((o) => ({ value: o.value, label: o.textContent })));
  log(`sessions: ${JSON.stringify(options)}`);
  await sessions.selectOption(options[options.length - 1].value);  // most recent first: the last is the first session
  await until("the first session's history after resuming it", async () => {
    const t = await transcript();
    return t.includes("Ran the command.") && !t.includes("Second answer.");
  });
  await view().locator("h1", { hasText: "Markdown heading" }).waitFor({ timeout: TIMEOUT });
  await shot("chat-resumed");

  await begin("the history survives a reload of the window");
  await page.reload();
  await page.locator(".monaco-workbench").waitFor({ timeout: 90_000 });
  await page.locator('.activitybar a[aria-label^="codetether"]').waitFor({ timeout: 90_000 });
  await openChat();
  await view().locator("h1", { hasText: "Markdown heading" }).waitFor({ timeout: TIMEOUT });
  await until("the whole first session after the reload", async () => {
    const t = await transcript();
    return ["show markdown", "Ran the command.", "Edited it."].every((s) => t.includes(s)) && !t.includes("Second answer.");
  });
  if ((await view().locator("details.tool").count()) < 2) {
    throw new Error("the tool cards are missing after the reload");
  }
  await shot("chat-after-reload");
  log(`transcript: ${JSON.stringify(await transcript())}`);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.VSCODE_E2E_CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on("pageerror", (err) => log(`page error: ${err.message}`));
    const modes = { "missing-program": missingProgram, okr, scenario, chat: chatView };
    await (modes[cfg.mode] || scenario)();
    log("ok");
  } catch (err) {
    log(`FAILED at step "${step}": ${err && err.stack ? err.stack : err}`);
    await shot("failure").catch(() => undefined);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
})();
