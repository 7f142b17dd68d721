// The Node worker: runs a TypeScript or JavaScript Kernel app's actions for the runner.
//
// The twin of kernel_actions/runner/engine/worker.py, for apps written with
// `@onkernel/sdk` (`new Kernel().app("name").action("x", async (ctx, payload) => ...)`).
// Started by kernel_actions/runner/engine/spawning.py through the runner's supervisor, with
// one end of a socket pair on the descriptor named by KERNEL_ACTIONS_WORKER_FD. It speaks the
// same protocol (kernel_actions/runner/engine/protocol.py): every message is a JSON object
// after a 4-byte big-endian length.
//
//   runner -> worker: load {target}, invoke {id, app, action, version, payload}, cancel {id},
//                     exit
//   worker -> runner: ready {pid, node, typescript}, loaded {manifest},
//                     load_failed {message, location, detail}, logs {items: [[id, ts_ns, line]]},
//                     result {id, status, output, status_reason, error} or {id, cancelled, stuck}
//
// The app's entry (.ts/.mts/.cts/.js/.mjs/.cjs) is imported with the app's own node_modules;
// TypeScript runs through Node's type stripping (no build step). Relative imports written for
// a bundler (`./loop`, `./tools/computer.js` for a .ts file) are resolved as TypeScript's
// "bundler" resolution does. Every copy of the SDK's `core/app-framework` the app loads is
// noted as it resolves (CommonJS and ES-module builds each keep their own registry), and the
// apps are read from the registries the app's own code registered into.
//
// console.* (anything written to stdout/stderr) while an invocation runs is that invocation's
// log, line by line, attributed through AsyncLocalStorage (so concurrent invocations keep their
// own lines). A promise can't be stopped: a cancelled invocation is given back at once as
// `stuck` while its handler still runs (the runner then replaces this process), and once more,
// not stuck, if the handler settles after all.

import { AsyncLocalStorage } from "node:async_hooks";
import fs from "node:fs";
import * as nodeModule from "node:module";
import net from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { format } from "node:util";

const FD_ENV = "KERNEL_ACTIONS_WORKER_FD";
const UMASK_ENV = "KERNEL_ACTIONS_UMASK";
const MAX_MESSAGE = 256 * 1024 * 1024;
const MAX_LOG_LINES = 10_000;
const MAX_LINE_BYTES = 64 * 1024;
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
const MAX_REASON = 200;
const MANIFEST_VERSION = 1;
const SELF_URL = import.meta.url;
const SELF_PATH = fileURLToPath(SELF_URL);
const SCRIPT_EXTS = [".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"];
const requireHere = nodeModule.createRequire(SELF_URL);

// -- the socket -------------------------------------------------------------------------

// `node node_worker.mjs --manifest TARGET` (kernel-actions package/deploy/schema): load the
// app, print {"manifest": ...} or {"error": ...} on stdout, and exit; no socket.
const MANIFEST_MODE = process.argv[2] === "--manifest";
const fd = Number(process.env[FD_ENV]);
delete process.env[FD_ENV];
if (process.env[UMASK_ENV] !== undefined) {
  const mask = parseInt(process.env[UMASK_ENV], 8);
  delete process.env[UMASK_ENV];
  if (!Number.isNaN(mask)) process.umask(mask & 0o777);
}
process.on("SIGINT", () => {}); // Ctrl-C is the runner's to handle

const sock = MANIFEST_MODE ? null : new net.Socket({ fd, readable: true, writable: true });
let inbox = Buffer.alloc(0);

function frameOf(message) {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

function send(message) {
  if (MANIFEST_MODE) return answerManifest(message);
  if (!sock.write(frameOf(message))) {
    // The runner reads slower than answers come: stop taking work until it catches up.
    sock.pause();
    sock.once("drain", () => sock.resume());
  }
}

sock?.on("data", (chunk) => {
  inbox = inbox.length ? Buffer.concat([inbox, chunk]) : chunk;
  let at = 0;
  while (inbox.length - at >= 4) {
    const size = inbox.readUInt32BE(at);
    if (size > MAX_MESSAGE) fatal(`message of ${size} bytes exceeds the protocol limit`);
    if (inbox.length - at - 4 < size) break;
    let message;
    try {
      message = JSON.parse(inbox.toString("utf8", at + 4, at + 4 + size));
    } catch (err) {
      fatal(`a message is not JSON: ${err.message}`);
    }
    at += 4 + size;
    received(message);
  }
  inbox = at === inbox.length ? Buffer.alloc(0) : inbox.subarray(at);
});
// The runner is gone (or closed our socket): leave, taking nothing further.
sock?.on("end", () => process.exit(0));
sock?.on("close", () => process.exit(0));
sock?.on("error", () => process.exit(0));

function fatal(reason) {
  originalStderr(`kernel-actions worker: protocol error: ${reason}\n`);
  process.exit(1);
}

function received(message) {
  switch (message.t) {
    case "load":
      load(message.target).catch((err) => {
        send({ t: "load_failed", message: describe(err), location: null, detail: stackOf(err) });
      });
      break;
    case "invoke":
      invoke(message);
      break;
    case "cancel":
      cancel(message.id);
      break;
    case "exit":
      flushLogs();
      sock.end(() => process.exit(0));
      break;
    default:
      break;
  }
}

// -- logs -------------------------------------------------------------------------------

const current = new AsyncLocalStorage();
const originalStdout = process.stdout.write.bind(process.stdout);
const originalStderr = process.stderr.write.bind(process.stderr);
let pendingLogs = [];
let flushScheduled = false;
const clockBase = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

function nowNs() {
  // Wall-clock nanoseconds (Python's time.time_ns()), monotonic within this process.
  return Number(clockBase + process.hrtime.bigint());
}

function logLine(state, line) {
  state.lines += 1;
  if (state.lines > MAX_LOG_LINES) {
    if (state.lines !== MAX_LOG_LINES + 1) return;
    line = `[log truncated: more than ${MAX_LOG_LINES} lines; the rest was dropped]`;
  } else if (line.length > MAX_LINE_BYTES / 4 && Buffer.byteLength(line) > MAX_LINE_BYTES) {
    line = Buffer.from(line).subarray(0, MAX_LINE_BYTES - 32).toString("utf8").replace(/\uFFFD$/, "") +
      " …[line truncated]";
  }
  pendingLogs.push([state.id, nowNs(), line]);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushLogs);
  }
}

function flushLogs() {
  flushScheduled = false;
  if (pendingLogs.length === 0) return;
  const items = pendingLogs;
  pendingLogs = [];
  send({ t: "logs", items });
}

function capture(state, chunk, encoding) {
  const text = typeof chunk === "string" ? chunk
    : Buffer.from(chunk).toString(typeof encoding === "string" ? encoding : "utf8");
  const lines = (state.partial + text).split("\n");
  state.partial = lines.pop();
  for (const line of lines) logLine(state, line.endsWith("\r") ? line.slice(0, -1) : line);
}

function closeLog(state) {
  if (state.partial) {
    const rest = state.partial;
    state.partial = "";
    logLine(state, rest);
  }
}

function routed(original) {
  return function write(chunk, encoding, callback) {
    const state = current.getStore();
    if (state === undefined) return original(chunk, encoding, callback);
    capture(state, chunk, encoding);
    const done = typeof encoding === "function" ? encoding : callback;
    if (typeof done === "function") process.nextTick(done);
    return true;
  };
}

// An action that calls process.exit(): the lines it logged first still reach its log. Written
// at once (the process ends with this handler), unless earlier writes still wait to go out.
process.on("exit", () => {
  for (const state of running.values()) closeLog(state);
  if (pendingLogs.length === 0 || !sock || sock.writableLength > 0 || sock.destroyed) return;
  try {
    fs.writeSync(fd, frameOf({ t: "logs", items: pendingLogs }));
  } catch {
    // the runner is gone
  }
  pendingLogs = [];
});

function answerManifest(message) {
  if (message.t === "loaded") {
    originalStdout(`${JSON.stringify({ manifest: message.manifest })}\n`, () => process.exit(0));
  } else if (message.t === "load_failed") {
    const where = message.location ? ` (${message.location})` : "";
    originalStdout(`${JSON.stringify({ error: `${message.message}${where}` })}\n`, () => process.exit(0));
  }
}

// console.* writes to these streams: patched once, every line of an invocation is its log.
// Printing a manifest, what the app prints while it loads goes to stderr, off the answer.
process.stdout.write = routed(MANIFEST_MODE ? originalStderr : originalStdout);
process.stderr.write = routed(originalStderr);

function reportStray(kind, err) {
  // An error no handler caught (a callback's throw, a promise nobody awaited): it goes to the
  // log of the invocation it came from, or to the runner's terminal; the worker keeps serving.
  const text = `${kind}: ${err instanceof Error ? cleanStack(err.stack || String(err)) : format(err)}`;
  const state = current.getStore();
  if (state !== undefined) {
    for (const line of text.split("\n")) logLine(state, line);
  } else {
    originalStderr(`${text}\n`);
  }
}
process.on("uncaughtException", (err) => reportStray("Uncaught exception", err));
process.on("unhandledRejection", (err) => reportStray("Unhandled promise rejection", err));

// -- resolving modules as the app's tooling does ------------------------------------------

/** URLs of every copy of the SDK's app framework the app loaded (each has its own registry). */
const frameworks = new Set();
const FRAMEWORK = /\/@onkernel\/sdk\/core\/app-framework\.(?:m?js)$/;

function isRelative(specifier) {
  return specifier.startsWith("./") || specifier.startsWith("../") || specifier.startsWith("/")
    || specifier.startsWith("file:");
}

function alternatives(specifier) {
  // What TypeScript's "bundler" resolution would try: the .ts twin of a .js name, then the
  // name with each extension, then the folder's index.
  const out = [];
  const swap = { ".js": [".ts", ".tsx"], ".mjs": [".mts"], ".cjs": [".cts"], ".jsx": [".tsx"] };
  const ext = path.posix.extname(specifier);
  if (swap[ext]) for (const to of swap[ext]) out.push(specifier.slice(0, -ext.length) + to);
  if (!SCRIPT_EXTS.includes(ext)) {
    for (const to of SCRIPT_EXTS) out.push(specifier + to);
    const base = specifier.endsWith("/") ? specifier : `${specifier}/`;
    for (const to of [".ts", ".mts", ".js", ".mjs"]) out.push(`${base}index${to}`);
  }
  return out;
}

const NOT_FOUND = new Set(["ERR_MODULE_NOT_FOUND", "MODULE_NOT_FOUND", "ERR_UNSUPPORTED_DIR_IMPORT"]);

function resolveHook(specifier, context, nextResolve) {
  let result;
  try {
    result = nextResolve(specifier, context);
  } catch (err) {
    const parent = context.parentURL || "";
    if (!NOT_FOUND.has(err && err.code) || !isRelative(specifier) || !parent.startsWith("file:")
        || parent.includes("/node_modules/")) throw err;
    for (const candidate of alternatives(specifier)) {
      try {
        result = nextResolve(candidate, context);
        break;
      } catch {
        // try the next
      }
    }
    if (result === undefined) throw err;
  }
  if (result && typeof result.url === "string" && FRAMEWORK.test(result.url)) frameworks.add(result.url);
  return result;
}

const hooked = typeof nodeModule.registerHooks === "function";
if (hooked) nodeModule.registerHooks({ resolve: resolveHook });

// -- loading the app ----------------------------------------------------------------------

/** Kernel's loader runs the file the deployment names; a folder names it in package.json. */
function entryFile(target) {
  let stat;
  try {
    stat = fs.statSync(target);
  } catch {
    throw new LoadError(`no such file: ${target}`);
  }
  if (!stat.isDirectory()) return target;
  const manifest = readJson(path.join(target, "package.json"));
  if (manifest === null) throw new LoadError(`${target} is a folder without a package.json`);
  for (const field of ["main", "module"]) {
    if (typeof manifest[field] === "string") {
      const file = path.resolve(target, manifest[field]);
      if (fs.existsSync(file)) return file;
    }
  }
  for (const name of ["index.ts", "index.mts", "index.js", "index.mjs"]) {
    const file = path.join(target, name);
    if (fs.existsSync(file)) return file;
  }
  throw new LoadError(`${path.join(target, "package.json")} names no entry file (main or module)`);
}

class LoadError extends Error {
  constructor(message, location = null, detail = null) {
    super(message);
    this.location = location;
    this.detail = detail;
  }
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

/** The folder holding the app's package.json (its dependencies), from the entry's folder up. */
function packageDir(start) {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) return null;
  }
}

function hasNodeModules(start) {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "node_modules"))) return true;
    if (path.dirname(dir) === dir) return false;
  }
}

function installCommand(dir) {
  const locks = [["pnpm-lock.yaml", "pnpm install"], ["yarn.lock", "yarn install"],
    ["bun.lock", "bun install"], ["bun.lockb", "bun install"], ["package-lock.json", "npm install"]];
  for (const [file, command] of locks) if (fs.existsSync(path.join(dir, file))) return command;
  return "npm install";
}

function dependenciesOf(dir) {
  const manifest = readJson(path.join(dir, "package.json")) || {};
  return Object.keys({ ...(manifest.dependencies || {}) });
}

function missingModulesMessage(entryDir) {
  const dir = packageDir(entryDir);
  if (dir === null || hasNodeModules(dir) || dependenciesOf(dir).length === 0) return null;
  return `node_modules is missing in ${dir}: run \`${installCommand(dir)}\` there`;
}

function unresolvedPackage(err) {
  const text = String(err && err.message);
  const match = /Cannot find (?:package|module) '([^']+)'/.exec(text);
  if (!match || isRelative(match[1])) return null;
  const name = match[1].startsWith("@") ? match[1].split("/").slice(0, 2).join("/") : match[1].split("/")[0];
  return name;
}

let loadedActions = new Map();

async function load(target, entrypoint = target) {
  let file;
  try {
    file = path.resolve(entryFile(target));
  } catch (err) {
    return loadFailed(err);
  }
  const missing = missingModulesMessage(path.dirname(file));
  if (missing !== null) return send({ t: "load_failed", message: missing, location: null, detail: null });
  const ext = path.extname(file);
  if ([".ts", ".mts", ".cts"].includes(ext) && !process.features.typescript) {
    return send({
      t: "load_failed",
      message: `Node ${process.version} (${process.execPath}) can't run TypeScript: it has no type ` +
        "stripping; use Node 22.18 or later (or install the playwright package, whose Node has it)",
      location: null, detail: null,
    });
  }
  try {
    await import(pathToFileURL(file).href);
  } catch (err) {
    return loadFailed(err, file);
  }
  const apps = await registeredApps(file);
  if (apps.length === 0) {
    const sdk = frameworks.size > 0 || hasSdkInCache();
    return send({
      t: "load_failed",
      message: sdk
        ? `${path.basename(file)} defines no app: create one with \`new Kernel().app("my-app")\``
        : `${path.basename(file)} defines no app: it does not load @onkernel/sdk; create one with ` +
          "`const app = new Kernel().app(\"my-app\")` (import { Kernel } from \"@onkernel/sdk\")",
      location: null, detail: null,
    });
  }
  const env = exampleEnv(path.dirname(file));
  const described = [];
  loadedActions = new Map();
  for (const app of apps) {
    const actions = [];
    for (const [name, action] of app.actions) {
      loadedActions.set(`${app.name}\0${name}`, action);
      actions.push({
        name, description: null, input_schema: null, output_schema: null, is_async: true,
        takes_payload: true, payload_required: false,
      });
    }
    described.push({ name: app.name, actions, env });
  }
  send({ t: "loaded", manifest: { manifest_version: MANIFEST_VERSION, entrypoint, apps: described } });
}

function hasSdkInCache() {
  return Object.keys(requireHere.cache).some((key) => key.includes(`${path.sep}@onkernel${path.sep}sdk${path.sep}`));
}

/** The apps in every registry the app's code could have registered into. */
async function registeredApps(file) {
  const urls = new Set(frameworks);
  for (const key of Object.keys(requireHere.cache)) {
    if (FRAMEWORK.test(pathToFileURL(key).href)) urls.add(pathToFileURL(key).href);
  }
  if (!hooked) {
    // Without resolve hooks: the SDK the app's folder resolves, in both module systems.
    try {
      const cjs = nodeModule.createRequire(file).resolve("@onkernel/sdk/core/app-framework");
      urls.add(pathToFileURL(cjs).href);
      const esm = cjs.replace(/\.js$/, ".mjs");
      if (fs.existsSync(esm)) urls.add(pathToFileURL(esm).href);
    } catch {
      // no SDK there
    }
  }
  const byName = new Map();
  for (const url of urls) {
    let framework;
    try {
      framework = url.endsWith(".mjs") ? await import(url) : requireHere(fileURLToPath(url));
    } catch {
      continue;
    }
    const registry = framework && framework.appRegistry;
    if (!registry || typeof registry.getApps !== "function") continue;
    for (const app of registry.getApps()) {
      if (!byName.has(app.name) || byName.get(app.name).actions.size === 0) byName.set(app.name, app);
    }
  }
  return [...byName.values()];
}

/** The names an .env.example beside the entry declares (as kernel_actions.env_contract reads them). */
function exampleEnv(dir) {
  let text;
  try {
    text = fs.readFileSync(path.join(dir, ".env.example"), "utf8");
  } catch {
    return [];
  }
  const found = [];
  let headingOptional = false;
  let inGroup = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) {
      headingOptional = inGroup = false;
      continue;
    }
    if (line.startsWith("#")) {
      if (inGroup) headingOptional = inGroup = false;
      headingOptional = headingOptional || line.toLowerCase().includes("optional");
      continue;
    }
    if (!line.includes("=")) continue;
    inGroup = true;
    const key = line.split("=", 1)[0].trim().replace(/^export /, "").trim();
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) && !found.some((v) => v.name === key)) {
      const inline = line.includes("#") && line.split("#").slice(1).join("#").toLowerCase().includes("optional");
      found.push({ name: key, required: !(inline || headingOptional) });
    }
  }
  return found;
}

function loadFailed(err, file = null) {
  if (err instanceof LoadError) {
    return send({ t: "load_failed", message: err.message, location: err.location, detail: err.detail });
  }
  let message = describe(err);
  const code = err && err.code;
  const dir = file ? packageDir(path.dirname(file)) : null;
  const pkg = NOT_FOUND.has(code) ? unresolvedPackage(err) : null;
  if (pkg !== null && dir !== null) {
    message = hasNodeModules(dir)
      ? `package ${pkg} is not installed in ${dir}: run \`${installCommand(dir)}\` there` +
        (dependenciesOf(dir).includes(pkg) ? "" : ` (and add it to package.json)`)
      : `node_modules is missing in ${dir}: run \`${installCommand(dir)}\` there`;
    return send({ t: "load_failed", message, location: null, detail: null });
  }
  if (code === "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX") {
    message += " (Node's type stripping runs TypeScript whose types can simply be erased: " +
      "enums, namespaces and parameter properties need a build step)";
  }
  send({ t: "load_failed", message, location: locationOf(err), detail: stackOf(err) });
}

function describe(err) {
  if (err instanceof Error) {
    const name = err.name || "Error";
    return err.message ? `${name}: ${err.message}` : name;
  }
  return `thrown: ${safeText(err)}`;
}

function safeText(value) {
  if (typeof value === "string") return value;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text;
  } catch {
    return String(value);
  }
}

/** The stack down to the app's code: from this worker's first frame on, it is the runner's
 * machinery (with the AsyncLocalStorage.run that leads into it). */
function cleanStack(stack) {
  const lines = String(stack).split("\n");
  let end = lines.findIndex((line) => line.includes(SELF_URL) || line.includes(SELF_PATH));
  if (end < 0) return lines.join("\n");
  while (end > 1 && /AsyncLocalStorage\.run \(node:internal/.test(lines[end - 1])) end -= 1;
  return lines.slice(0, end).join("\n");
}

function stackOf(err) {
  return err instanceof Error && err.stack ? cleanStack(err.stack) : null;
}

/** file:line of the first frame in the app's own code (not node_modules, not Node's). */
function locationOf(err) {
  if (!(err instanceof Error) || !err.stack) return null;
  // A syntax error's stack starts with the place: "file:///app/index.ts:12".
  const head = /^(file:\/\/\S+?):(\d+)\s*$/m.exec(err.stack.split("\n")[0]);
  if (head) return `${fileURLToPath(head[1])}:${head[2]}`;
  for (const line of err.stack.split("\n")) {
    const frame = /(file:\/\/[^\s)]+?|\/[^\s():]+):(\d+):\d+\)?$/.exec(line.trim());
    if (!frame || frame[1].includes("/node_modules/") || frame[1].includes(SELF_PATH)) continue;
    const where = frame[1].startsWith("file:") ? fileURLToPath(frame[1]) : frame[1];
    if (where === SELF_PATH) continue;
    return `${where}:${frame[2]}`;
  }
  return null;
}

// -- invocations ----------------------------------------------------------------------------

/** Invocations whose handler has not settled: id -> their state. */
const running = new Map();

function failure(kind, message, reason, detail = {}) {
  return {
    status: "failed",
    output: JSON.stringify({ error: kind, message, ...detail }),
    status_reason: reason.slice(0, MAX_REASON),
    error: kind,
  };
}

function succeeded(action, value) {
  let output;
  try {
    output = JSON.stringify(value === undefined ? null : value);
  } catch (err) {
    return failure("output_not_json",
      `action '${action}' returned a value that is not JSON-serialisable (${err.message})`,
      `Action '${action}' returned a value that is not JSON-serialisable: ${err.message}`);
  }
  if (output === undefined) {
    const kind = typeof value;
    return failure("output_not_json", `action '${action}' returned a ${kind}, which is not JSON`,
      `Action '${action}' returned a ${kind}, which is not JSON-serialisable`);
  }
  if (output.length > MAX_OUTPUT_BYTES / 4 && Buffer.byteLength(output) > MAX_OUTPUT_BYTES) {
    const size = (Buffer.byteLength(output) / 1024 / 1024).toFixed(1);
    const limit = MAX_OUTPUT_BYTES / 1024 / 1024;
    return failure("output_too_large",
      `action '${action}' returned ${size} MB of JSON; the limit is ${limit} MB`,
      `Output too large (${size} MB; the limit is ${limit} MB)`);
  }
  return { status: "succeeded", output, status_reason: null, error: null };
}

function raised(err) {
  const isError = err instanceof Error;
  const type = isError ? (err.name || err.constructor?.name || "Error") : typeof err;
  const message = isError ? String(err.message ?? "") : safeText(err);
  const summary = message ? `${type}: ${message}` : type;
  return failure("action_raised", summary, `Action raised ${summary.split("\n")[0]}`,
    { type, traceback: isError ? cleanStack(err.stack || summary) : summary });
}

function invoke(message) {
  const { id } = message;
  const action = loadedActions.get(`${message.app}\0${message.action}`);
  if (action === undefined) {
    send({
      t: "result", id,
      ...failure("action_raised", `action '${message.action}' of app '${message.app}' is not in the loaded code`,
        "Action not found in the loaded code"),
    });
    return;
  }
  let payload;
  if (message.payload !== null && message.payload !== undefined) {
    try {
      payload = JSON.parse(message.payload);
    } catch (err) {
      send({ t: "result", id, ...failure("validation_failed", `payload is not JSON: ${err.message}`,
        "Payload validation failed: not JSON") });
      return;
    }
  }
  const state = { id, lines: 0, partial: "", cancelled: false };
  running.set(id, state);
  current.run(state, () => {
    let settled;
    try {
      settled = Promise.resolve(action.handler({ invocation_id: id }, payload));
    } catch (err) {
      settled = Promise.reject(err);
    }
    settled.then((value) => finish(state, succeeded(message.action, value)),
      (err) => finish(state, raised(err)));
  });
}

function finish(state, outcome) {
  closeLog(state);
  running.delete(state.id);
  flushLogs();
  if (state.cancelled) {
    // Given back as stuck when it was cancelled; now it has stopped, the process is clean.
    send({ t: "result", id: state.id, cancelled: true, stuck: false });
    return;
  }
  send({ t: "result", id: state.id, ...outcome });
}

function cancel(id) {
  const state = running.get(id);
  if (state === undefined || state.cancelled) return;
  state.cancelled = true;
  closeLog(state);
  flushLogs();
  send({ t: "result", id, cancelled: true, stuck: true });
}

if (MANIFEST_MODE) {
  load(path.resolve(process.argv[3] || ""), process.argv[4]).catch((err) => send({ t: "load_failed", message: describe(err) }));
} else {
  send({ t: "ready", pid: process.pid, node: process.version, typescript: Boolean(process.features.typescript) });
}
