// The browser REPL: a persistent Node.js runtime for one browser (`browsers.repl`).
//
// Started by kernel_actions/runner/browsers/repl.py (through the runner's process supervisor)
// with the Node runtime and playwright-core of the Python `playwright` wheel, and Node's
// `--expose-internals` for the REPL's own top-level-await rewrite. Its first stdin line is
// its configuration ({playwright, cdp_ws_url, name}); every later line is a request
// ({id, op: "run", code}). Answers are single lines on stdout starting with the ASCII record
// separator (0x1e).
//
// Code runs in one `vm` context for the life of the process, as scripts: top-level `let`,
// `const`, `class` and `function` declarations persist from call to call (with top-level
// `await`, Node's REPL rewrite keeps them too). Expression values are ignored; output is what
// `repl.write(...)`, `console.*` and `repl.emitImage(...)` produce while the call runs, in
// order. In scope: `page`, `context`, `browser` (Playwright over CDP, connected on first use
// and kept: the runner serves this process a DevTools URL that does not keep the browser
// alive), `cdp` (a raw CDP session on `page`), `browserCdp` (one on the browser),
// `playwright`, `chromium`, `require`, dynamic `import()`, and `repl`.

import * as nodeModule from "node:module";
import { createInterface } from "node:readline";
import { format } from "node:util";
import vm from "node:vm";

const RS = "\x1e";
const require = nodeModule.createRequire(import.meta.url);
const MAX_TEXT_CHARS = 1_000_000;
const MAX_IMAGE_BYTES = 20 * 1024 * 1024;

let topLevelAwait = null;
try {
  topLevelAwait = require("internal/repl/await").processTopLevelAwait;
} catch {
  topLevelAwait = null; // without --expose-internals: top-level await by an async wrapper
}

let config = null;
let playwright = null;
let connected = null; // {browser, context, page, cdp, browserCdp}
let connecting = null;
let output = null; // the running call's {content, textChars, imageBytes, truncated}
const chosen = {}; // what the code assigned to page/context/browser itself

function answer(message) {
  process.stdout.write(RS + JSON.stringify(message) + "\n");
}

function emitText(channel, text) {
  if (!output) return;
  if (output.textChars + text.length > MAX_TEXT_CHARS) {
    text = text.slice(0, Math.max(0, MAX_TEXT_CHARS - output.textChars));
    output.truncated = true;
    if (!text) return;
  }
  output.textChars += text.length;
  const last = output.content[output.content.length - 1];
  if (last && last.type === "text" && last.channel === channel) last.text += text;
  else output.content.push({ type: "text", channel, text });
}

function sniff(bytes) {
  const b = bytes;
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "image/png";
  if (b[0] === 0xff && b[1] === 0xd8) return "image/jpeg";
  if (b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46) return "image/gif";
  if (b[0] === 0x52 && b[1] === 0x49 && b[8] === 0x57 && b[9] === 0x45) return "image/webp";
  return null;
}

function emitImage(data, mimeType) {
  let bytes;
  if (typeof data === "string") {
    const match = /^data:([^;,]+);base64,(.*)$/s.exec(data);
    if (match) {
      mimeType = mimeType || match[1];
      data = match[2];
    }
    bytes = Buffer.from(data, "base64");
  } else if (data instanceof Uint8Array || Buffer.isBuffer(data)) {
    bytes = Buffer.from(data);
  } else if (data instanceof ArrayBuffer) {
    bytes = Buffer.from(new Uint8Array(data));
  } else {
    throw new TypeError("repl.emitImage(data, mimeType?): data must be a Buffer, Uint8Array, " +
                        "ArrayBuffer or base64 string (what page.screenshot() returns)");
  }
  if (!bytes.length) throw new TypeError("repl.emitImage: the image is empty");
  const mime = mimeType || sniff(bytes);
  if (!mime || !/^image\/[\w.+-]+$/.test(mime)) {
    throw new TypeError("repl.emitImage: pass the image's MIME type (e.g. 'image/png') as " +
                        "the second argument");
  }
  if (!output) return;
  if (output.imageBytes + bytes.length > MAX_IMAGE_BYTES) {
    output.truncated = true;
    return;
  }
  output.imageBytes += bytes.length;
  output.content.push({ type: "image", mime_type: mime, data_b64: bytes.toString("base64") });
}

const HELP = {
  "": [
    "The browser REPL: JavaScript in a persistent Node.js runtime for this browser.",
    "Top-level let/const/class/function bindings persist across calls until reset.",
    "Expression values are ignored: print with repl.write(), console.*, repl.emitImage().",
    "",
    "In scope:",
    "  page, context, browser   Playwright objects (page: the active tab; assign to change)",
    "  cdp                      raw CDP session on page: await cdp.send('Page.navigate', {url})",
    "  browserCdp               raw CDP session on the browser (Target.*, Browser.*)",
    "  playwright, chromium     the playwright-core module",
    "  require, import()        Node modules (static imports are not supported)",
    "  repl.write(...values)    text output (channel 'write')",
    "  repl.emitImage(data, mimeType?)  image output (Buffer, Uint8Array or base64)",
    "  repl.help(topic?)        this text, or help on a topic:",
    "                           goto, click, type, screenshot, evaluate, cdp, tabs",
  ],
  goto: ["await page.goto('https://example.com'); // waits for the load event",
         "await page.goto(url, { waitUntil: 'domcontentloaded' })"],
  click: ["await page.click('button#submit')       // by selector, waits until clickable",
          "await page.getByRole('button', { name: 'Sign in' }).click()",
          "await page.mouse.click(100, 200)         // at page coordinates"],
  type: ["await page.fill('input[name=q]', 'hello')",
         "await page.keyboard.type('hello'); await page.keyboard.press('Enter')"],
  screenshot: ["repl.emitImage(await page.screenshot())",
               "repl.emitImage(await page.screenshot({ fullPage: true }))"],
  evaluate: ["const title = await page.evaluate(() => document.title); repl.write(title)"],
  cdp: ["const { result } = await cdp.send('Runtime.evaluate', { expression: '1 + 1' })",
        "await browserCdp.send('Target.getTargets')"],
  tabs: ["const pages = context.pages(); page = pages[pages.length - 1] // switch tabs",
         "page = await context.newPage()"],
};

function help(topic) {
  const key = topic === undefined ? "" : String(topic).toLowerCase();
  const lines = HELP[key] ??
    [`no help on ${JSON.stringify(topic)}; topics: ${Object.keys(HELP).filter(Boolean).join(", ")}`];
  const text = lines.join("\n");
  emitText("write", text + "\n");
  return text;
}

const repl = Object.freeze({
  write: (...values) => emitText("write", values.map((v) =>
    typeof v === "string" ? v : format("%o", v)).join(" ") + "\n"),
  emitImage,
  help,
});

const replConsole = {
  ...console,
  log: (...a) => emitText("stdout", format(...a) + "\n"),
  info: (...a) => emitText("stdout", format(...a) + "\n"),
  debug: (...a) => emitText("stdout", format(...a) + "\n"),
  dir: (v) => emitText("stdout", format("%o", v) + "\n"),
  table: (...a) => emitText("stdout", format(...a) + "\n"),
  warn: (...a) => emitText("stderr", format(...a) + "\n"),
  error: (...a) => emitText("stderr", format(...a) + "\n"),
  trace: (...a) => emitText("stderr", format(...a) + "\n"),
};

async function connect() {
  if (connected && connected.browser.isConnected()) return connected;
  if (!connecting) {
    connecting = (async () => {
      const browser = await playwright.chromium.connectOverCDP(config.cdp_ws_url);
      const context = browser.contexts()[0] ?? (await browser.newContext());
      let page = null;
      for (const p of context.pages()) {
        const state = await p.evaluate(() => document.visibilityState).catch(() => "hidden");
        if (!page || state === "visible") page = p;
      }
      if (!page) page = await context.newPage();
      const browserCdp = await browser.newBrowserCDPSession();
      connected = { browser, context, page, cdp: null, cdpPage: null, browserCdp };
      browser.on("disconnected", () => {
        if (connected && connected.browser === browser) connected = null;
      });
      return connected;
    })().finally(() => {
      connecting = null;
    });
  }
  return connecting;
}

function current(name) {
  if (Object.prototype.hasOwnProperty.call(chosen, name)) return chosen[name];
  return connected ? connected[name] : undefined;
}

async function pageSession() {
  const page = current("page");
  if (!connected || !page || typeof page.context !== "function") return undefined;
  if (connected.cdpPage !== page || !connected.cdp) {
    connected.cdp = await page.context().newCDPSession(page);
    connected.cdpPage = page;
  }
  return connected.cdp;
}

const sandbox = {
  console: replConsole, repl, require,
  setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, clearImmediate,
  queueMicrotask, structuredClone, URL, URLSearchParams, TextEncoder, TextDecoder, Buffer,
  fetch, Headers, Request, Response, AbortController, AbortSignal, atob, btoa, performance,
  process, Blob, FormData, crypto: globalThis.crypto, WebSocket: globalThis.WebSocket,
};
const context = vm.createContext(sandbox, { name: "browser repl" });
for (const name of ["page", "context", "browser"]) {
  Object.defineProperty(sandbox, name, {
    get: () => current(name),
    set: (value) => {
      chosen[name] = value;
    },
    configurable: false,
    enumerable: true,
  });
}
let cdpNow;
Object.defineProperty(sandbox, "cdp", { get: () => cdpNow, enumerable: true });
Object.defineProperty(sandbox, "browserCdp", {
  get: () => (connected ? connected.browserCdp : undefined), enumerable: true });

function errorOf(err) {
  if (err instanceof Error || (err && typeof err === "object" && "message" in err)) {
    const name = err.name && err.name !== "Error" ? `${err.name}: ` : "";
    return { error: `${name}${err.message}`, stack: typeof err.stack === "string" ? err.stack : undefined };
  }
  let text;
  try {
    text = typeof err === "string" ? err : JSON.stringify(err);
  } catch {
    text = String(err);
  }
  return { error: `thrown: ${text}` };
}

async function run(request) {
  output = { content: [], textChars: 0, imageBytes: 0, truncated: false };
  const reply = { id: request.id, success: false };
  try {
    const code = request.code;
    if (code.trim()) {
      await connect();
      cdpNow = await pageSession();
      const rewritten = topLevelAwait ? topLevelAwait(code) : null;
      const source = rewritten ?? (topLevelAwait ? code : `(async () => {\n${code}\n})()`);
      const script = new vm.Script(source, {
        filename: "repl",
        importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
      });
      const value = script.runInContext(context, { displayErrors: false });
      if (rewritten !== null || !topLevelAwait) await value;
    }
    reply.success = true;
  } catch (err) {
    Object.assign(reply, errorOf(err));
  } finally {
    reply.content = output.content;
    if (output.truncated) reply.content_truncated = true;
    output = null;
  }
  return reply;
}

process.on("unhandledRejection", (err) => {
  const { error } = errorOf(err);
  if (output) emitText("stderr", `unhandled rejection: ${error}\n`);
  else process.stderr.write(`unhandled rejection: ${error}\n`);
});
process.on("uncaughtException", (err) => {
  const { error } = errorOf(err);
  if (output) emitText("stderr", `uncaught exception: ${error}\n`);
  else process.stderr.write(`uncaught exception: ${error}\n`);
});
process.removeAllListeners("warning");
process.on("warning", () => {});

// Requests run strictly one after another.
let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const message = JSON.parse(line);
  if (config === null) {
    config = message;
    playwright = require(config.playwright);
    sandbox.playwright = playwright;
    sandbox.chromium = playwright.chromium;
    answer({ id: 0, ready: true });
    return;
  }
  queue = queue.then(() => run(message)).then(answer, (err) =>
    answer({ id: message.id, success: false, ...errorOf(err) }));
});
lines.on("close", () => process.exit(0));
