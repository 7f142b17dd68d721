// One Playwright executor: a warm Node.js process that runs `playwright.execute` calls
// against one browser, one call at a time, over a single CDP connection.
//
// Started by kernel_actions/runner/browsers/playwright_exec.py with the Node runtime and
// playwright-core that the Python `playwright` wheel ships. Its first stdin line is its
// configuration ({playwright, cdp_ws_url, name, linger_ms}); every later line is a request
// ({id, op: "run", code, exclude_targets} or {id, op: "close_tab"}). Answers are single
// lines on stdout that start with the ASCII record separator (0x1e); anything else the
// process writes belongs to the call that is running.
//
// The connection is dropped after `linger_ms` without a call, so a browser nobody uses
// can still reach its idle timeout; the next call reconnects.

import * as nodeModule from "node:module";
import { createInterface } from "node:readline";
import { format } from "node:util";

const RS = "\x1e";
const require = nodeModule.createRequire(import.meta.url);
// Node 22.13+ strips TypeScript annotations; older runtimes take plain JavaScript only.
const stripTypes = nodeModule.stripTypeScriptTypes;
const AsyncFunction = (async () => {}).constructor;

let config = null;
let chromium = null;
let browser = null;
let connecting = null;
let lingerTimer = null;
let ownedTargetId = null; // a named executor's tab
let defaultPage = null; // the default executor's last page
const targetIds = new WeakMap();

function answer(message) {
  process.stdout.write(RS + JSON.stringify(message) + "\n");
}

function errorText(err) {
  if (err instanceof Error) {
    const name = err.name && err.name !== "Error" ? `${err.name}: ` : "";
    return `${name}${err.message}`;
  }
  try {
    return `thrown: ${typeof err === "string" ? err : JSON.stringify(err)}`;
  } catch {
    return `thrown: ${String(err)}`;
  }
}

async function connect() {
  if (browser && browser.isConnected()) return browser;
  if (!connecting) {
    connecting = chromium
      .connectOverCDP(config.cdp_ws_url)
      .then((b) => {
        browser = b;
        defaultPage = null;
        b.on("disconnected", () => {
          if (browser === b) browser = null;
        });
        return b;
      })
      .finally(() => {
        connecting = null;
      });
  }
  return connecting;
}

function linger() {
  clearTimeout(lingerTimer);
  lingerTimer = setTimeout(() => {
    const b = browser;
    browser = null;
    defaultPage = null;
    // Over CDP, close() only disconnects: the browser and its tabs stay.
    if (b) b.close().catch(() => {});
  }, config.linger_ms);
}

async function targetIdOf(page) {
  let id = targetIds.get(page);
  if (!id) {
    const session = await page.context().newCDPSession(page);
    try {
      id = (await session.send("Target.getTargetInfo")).targetInfo.targetId;
    } finally {
      session.detach().catch(() => {});
    }
    targetIds.set(page, id);
  }
  return id;
}

// A page that closes while it is looked at has no target id.
async function targetIdOrNull(page) {
  try {
    return await targetIdOf(page);
  } catch {
    return null;
  }
}

function allPages(b) {
  return b.contexts().flatMap((c) => c.pages());
}

async function pageByTarget(b, targetId) {
  for (const page of allPages(b)) {
    if (!page.isClosed() && (await targetIdOrNull(page)) === targetId) return page;
  }
  return null;
}

// The default executor's page: the active tab (the visible one when there are several).
async function bindDefault(b, excluded) {
  if (defaultPage && !defaultPage.isClosed() && allPages(b).includes(defaultPage)) {
    const id = await targetIdOf(defaultPage);
    if (!excluded.has(id)) return { page: defaultPage, created: false };
  }
  const candidates = [];
  for (const page of allPages(b)) {
    const id = page.isClosed() ? null : await targetIdOrNull(page);
    if (id !== null && !excluded.has(id)) candidates.push(page);
  }
  let page = candidates[0] ?? null;
  if (candidates.length > 1) {
    for (const p of candidates) {
      const state = await p.evaluate(() => document.visibilityState).catch(() => "hidden");
      if (state === "visible") page = p;
    }
  }
  let created = false;
  if (!page) {
    const context = b.contexts()[0] ?? (await b.newContext());
    page = await context.newPage();
    created = true;
  }
  defaultPage = page;
  return { page, created };
}

// A named executor's page: its own tab, opened in the background on first use.
async function bindOwned(b) {
  if (ownedTargetId) {
    const page = await pageByTarget(b, ownedTargetId);
    if (page) return { page, created: false };
  }
  const session = await b.newBrowserCDPSession();
  let targetId;
  try {
    targetId = (
      await session.send("Target.createTarget", { url: "about:blank", background: true })
    ).targetId;
  } finally {
    session.detach().catch(() => {});
  }
  ownedTargetId = targetId;
  // Its page shows up on this connection shortly (other executors may open tabs meanwhile).
  const deadline = Date.now() + 10_000;
  let page;
  while (!(page = await pageByTarget(b, targetId))) {
    if (Date.now() > deadline) throw new Error("the executor's new tab did not appear");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { page, created: true };
}

function captureConsole(stdout, stderr) {
  const out = (...args) => void stdout.push(format(...args));
  const err = (...args) => void stderr.push(format(...args));
  return { ...console, log: out, info: out, debug: out, trace: err, warn: err, error: err };
}

function compile(code) {
  const source = `(async function (page, context, browser, console, require) {\n${code}\n})`;
  let js;
  try {
    js = stripTypes ? stripTypes(source, { mode: "strip" }) : source;
  } catch (err) {
    throw new SyntaxError(err.message.split("\n")[0]);
  }
  return (0, eval)(js);
}

function toJSON(value) {
  if (value === undefined) return null;
  let text;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`the returned value can't be serialised to JSON: ${err.message}`);
  }
  return text === undefined ? null : JSON.parse(text);
}

async function run(request) {
  clearTimeout(lingerTimer);
  const stdout = [];
  const stderr = [];
  const reply = { id: request.id, success: false };
  try {
    let fn;
    try {
      fn = compile(request.code);
    } catch (err) {
      reply.error = errorText(err);
      return reply;
    }
    const b = await connect();
    const excluded = new Set(request.exclude_targets || []);
    const { page, created } = config.name === "default"
      ? await bindDefault(b, excluded)
      : await bindOwned(b);
    reply.tab = { created, target_id: await targetIdOf(page) };
    const value = await fn(page, page.context(), b, captureConsole(stdout, stderr), require);
    reply.result = toJSON(value);
    reply.success = true;
    if (!page.isClosed()) reply.url = page.url();
  } catch (err) {
    reply.error = errorText(err);
  } finally {
    reply.stdout = stdout.length ? stdout.join("\n") + "\n" : "";
    reply.stderr = stderr.length ? stderr.join("\n") + "\n" : "";
    linger();
  }
  return reply;
}

async function closeTab(request) {
  try {
    if (ownedTargetId) {
      const b = await connect();
      const page = await pageByTarget(b, ownedTargetId);
      if (page) await page.close();
    }
    return { id: request.id, success: true };
  } catch (err) {
    return { id: request.id, success: false, error: errorText(err) };
  }
}

process.on("unhandledRejection", (err) => {
  process.stderr.write(`unhandled rejection: ${errorText(err)}\n`);
});

// Requests run strictly one after another, even if the runner stopped waiting for one.
let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const message = JSON.parse(line);
  if (config === null) {
    config = message;
    chromium = require(config.playwright).chromium;
    answer({ id: 0, ready: true });
    return;
  }
  const handle = message.op === "close_tab" ? closeTab : run;
  queue = queue.then(() => handle(message)).then(answer, (err) =>
    answer({ id: message.id, success: false, error: errorText(err) }));
});
lines.on("close", () => process.exit(0));
