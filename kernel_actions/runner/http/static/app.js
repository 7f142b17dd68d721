// The kernel-actions dev dashboard: a page over the runner's own API.
// Every value that comes from the API is inserted as text (textContent), never as HTML.
"use strict";

// ---------------------------------------------------------------------------------------------
// DOM and formatting helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (sel, root = document) => root.querySelector(sel);
/** Where the CLI looks for the runner when given no --api-url. */
const DEFAULT_API_URL = "http://127.0.0.1:8484";

function statusPill(status) {
  return h("span", { class: `status ${status}`, dataset: { status } }, status);
}

function pretty(raw) {
  if (raw === null || raw === undefined || raw === "") return "—";
  try { return JSON.stringify(JSON.parse(raw), null, 2); } catch { return String(raw); }
}

function parseTime(ts) { return ts ? Date.parse(ts) : NaN; }

function clock(ts) {
  const t = parseTime(ts);
  if (Number.isNaN(t)) return "—";
  const d = new Date(t);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function humanMs(ms) {
  if (!Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

function duration(inv) {
  const start = parseTime(inv.started_at);
  if (inv.finished_at) return humanMs(parseTime(inv.finished_at) - start);
  return inv.status === "running" || inv.status === "queued" ? "…" : "—";
}

function shellQuote(s) { return "'" + String(s).replace(/'/g, `'"'"'`) + "'"; }

// ---------------------------------------------------------------------------------------------
// API access: the key comes from ?key=, from this tab's storage, or from the user.

const auth = {
  key: new URLSearchParams(location.search).get("key") || sessionStorage.getItem("kernel-actions-key") || "",
};

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

function headers(json) {
  const out = { Accept: "application/json" };
  if (auth.key) out.Authorization = `Bearer ${auth.key}`;
  if (json) out["Content-Type"] = "application/json";
  return out;
}

async function api(method, path, body) {
  let resp;
  try {
    resp = await fetch(path, { method, headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, "unreachable", `the runner is not reachable (${err.message})`);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (resp.status === 401) { askForKey(data && data.message); }
  if (!resp.ok) {
    throw new ApiError(resp.status, data && data.code, (data && data.message) || text || resp.statusText);
  }
  return { data, headers: resp.headers };
}

// Server-sent events over fetch (EventSource can't send the Authorization header).
// Calls onEvent for each event; resolves when the stream ends; rejects on HTTP errors.
async function readEvents(path, onEvent, signal) {
  const resp = await fetch(path, { headers: { ...headers(false), Accept: "text/event-stream" }, signal });
  if (resp.status === 401) askForKey();
  if (!resp.ok) throw new ApiError(resp.status, null, `${path}: HTTP ${resp.status}`);
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = chunk.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (!data) continue;
      try { onEvent(JSON.parse(data)); } catch (err) { console.error("bad event", err, data); }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Runner-wide live stream: runner state and every invocation's state changes.

const live = {
  listeners: new Set(),
  runner: null,
  connected: false,
  start() {
    const loop = async () => {
      for (;;) {
        try {
          await readEvents("/_runner/events", (event) => {
            if (!this.connected) this.setConnected(true);
            if (event.event === "runner_state") this.setRunner(event.runner);
            for (const fn of this.listeners) fn(event);
          });
        } catch (err) { /* reconnect below */ }
        this.setConnected(false);
        await new Promise((r) => setTimeout(r, 1000));
      }
    };
    loop();
  },
  setConnected(on) {
    this.connected = on;
    const el = $("#conn");
    el.textContent = on ? "live" : "reconnecting";
    el.classList.toggle("live", on);
  },
  setRunner(runner) {
    this.runner = runner;
    const chip = $("#runner-chip");
    const pool = runner.live;
    const banner = $("#banner");
    banner.replaceChildren();
    if (pool) {
      chip.textContent = `live code · gen ${pool.generation}`;
      chip.classList.toggle("bad", Boolean(pool.load_error));
      if (pool.load_error) {
        const e = pool.load_error;
        banner.append(h("strong", {}, "The last reload failed; the previous code still serves. "),
          h("span", {}, e.message, e.location ? ` (${e.location})` : ""),
          e.detail ? h("pre", {}, e.detail) : null);
      }
    } else {
      chip.textContent = `${runner.pools.length} deployed version(s)`;
    }
    banner.hidden = !banner.childNodes.length;
  },
  on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); },
};

// ---------------------------------------------------------------------------------------------
// Views. Each returns a cleanup function (called when the route changes).

let apps = null; // cached GET /apps
async function loadApps(force = false) {
  if (!apps || force) apps = (await api("GET", "/apps")).data;
  return apps;
}

/** What the list says when it has nothing: how to invoke something, with a real action. */
async function emptyState(filters) {
  if (Object.values(filters).some(Boolean)) return h("p", { class: "muted empty" }, "No invocation matches these filters.");
  let app = null, action = null;
  try { app = (await loadApps(true)).find((a) => a.actions && a.actions.length); action = app && app.actions[0]; } catch { /* shown without */ }
  const apiUrl = location.origin === DEFAULT_API_URL ? "" : ` --api-url ${shellQuote(location.origin)}`;
  const command = `kernel-actions invoke ${app ? shellQuote(app.app_name) : "<app>"} ${action ? shellQuote(action.name) : "<action>"}${apiUrl}`;
  return h("div", { class: "panel empty", id: "empty-state" },
    h("h2", {}, "No invocations yet"),
    h("p", {}, "Invoke an action and it shows here as it runs, with its logs, its output and every step its browsers took."),
    h("ul", {},
      h("li", {}, "From a terminal: ", h("code", { class: "cmd" }, command)),
      h("li", {}, "From this page: ", app && action ? h("a", { href: `#/apps/${encodeURIComponent(app.app_name)}/${encodeURIComponent(action.name)}` }, `the form of ${app.app_name} / ${action.name}`) : h("a", { href: "#/apps" }, "the Apps page")),
      h("li", {}, "From code: Kernel's SDK, ", h("code", {}, "client.invocations.create(app_name=..., action_name=...)"), ", pointed at this runner")));
}

function errorBox(err) {
  return h("div", { class: "panel error", role: "alert" }, err.message || String(err));
}

const PAGE = 50;

function invocationsView(root, params) {
  const filters = {
    app_name: params.get("app") || "", action_name: params.get("action") || "",
    status: params.get("status") || "", query: params.get("q") || "",
  };
  let offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  const rows = new Map(); // id -> tr
  const tbody = h("tbody", {});
  const pageInfo = h("span", { class: "muted" });
  const older = h("button", { onclick: () => go(offset + PAGE) }, "Older →");
  const newer = h("button", { onclick: () => go(Math.max(0, offset - PAGE)) }, "← Newer");
  const message = h("div", {});

  const appSel = h("select", { "aria-label": "App", name: "app" }, h("option", { value: "" }, "all apps"));
  const actionSel = h("select", { "aria-label": "Action", name: "action" }, h("option", { value: "" }, "all actions"));
  const statusSel = h("select", { "aria-label": "Status", name: "status" },
    h("option", { value: "" }, "any status"),
    ["queued", "running", "succeeded", "failed"].map((s) => h("option", { value: s }, s)));
  const search = h("input", { type: "text", name: "q", placeholder: "search: id, app or action prefix", size: 32, value: filters.query });
  statusSel.value = filters.status;

  loadApps().then((list) => {
    const names = [...new Set(list.map((a) => a.app_name))].sort();
    appSel.append(...names.map((n) => h("option", { value: n }, n)));
    appSel.value = filters.app_name;
    const actions = [...new Set(list.filter((a) => !filters.app_name || a.app_name === filters.app_name)
      .flatMap((a) => a.actions.map((x) => x.name)))].sort();
    actionSel.append(...actions.map((n) => h("option", { value: n }, n)));
    actionSel.value = filters.action_name;
  }).catch(() => {});

  function setHash(next) {
    const p = new URLSearchParams();
    if (next.app_name) p.set("app", next.app_name);
    if (next.action_name) p.set("action", next.action_name);
    if (next.status) p.set("status", next.status);
    if (next.query) p.set("q", next.query);
    if (next.offset) p.set("offset", String(next.offset));
    const qs = p.toString();
    location.hash = "#/invocations" + (qs ? "?" + qs : "");
  }
  function go(newOffset) { setHash({ ...filters, offset: newOffset }); }
  appSel.onchange = () => setHash({ ...filters, app_name: appSel.value, action_name: "" });
  actionSel.onchange = () => setHash({ ...filters, action_name: actionSel.value });
  statusSel.onchange = () => setHash({ ...filters, status: statusSel.value });
  let timer = null;
  search.oninput = () => {
    clearTimeout(timer);
    timer = setTimeout(() => setHash({ ...filters, query: search.value.trim() }), 300);
  };

  function matches(inv) {
    if (filters.app_name && inv.app_name !== filters.app_name) return false;
    if (filters.action_name && inv.action_name !== filters.action_name) return false;
    if (filters.status && inv.status !== filters.status) return false;
    if (filters.query) {
      const q = filters.query;
      if (!inv.id.startsWith(q) && !inv.app_name.startsWith(q) && !inv.action_name.startsWith(q)) return false;
    }
    return true;
  }

  function renderRow(inv, tr) {
    const cells = [
      h("td", {}, statusPill(inv.status)),
      h("td", { class: "mono" }, h("a", { href: `#/invocations/${encodeURIComponent(inv.id)}` }, inv.id)),
      h("td", {}, `${inv.app_name} / ${inv.action_name}`),
      h("td", {}, inv.version),
      h("td", { title: inv.started_at || "" }, clock(inv.started_at)),
      h("td", { class: "duration" }, duration(inv)),
      h("td", {}, inv.code_generation ?? "—"),
    ];
    const row = tr || h("tr", {});
    row.dataset.id = inv.id;
    row.dataset.status = inv.status;
    row.replaceChildren(...cells);
    return row;
  }

  async function load() {
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset), detail: "summary" });
    for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
    message.replaceChildren();
    try {
      const { data, headers: hd } = await api("GET", `/invocations?${q}`);
      rows.clear();
      tbody.replaceChildren(...data.map((inv) => { const tr = renderRow(inv); rows.set(inv.id, tr); return tr; }));
      const more = hd.get("X-Has-More") === "true";
      older.disabled = !more;
      newer.disabled = offset === 0;
      pageInfo.textContent = data.length ? `rows ${offset + 1}–${offset + data.length}${more ? "" : " (end)"}` : "";
      if (!data.length) message.append(offset ? h("p", { class: "muted empty" }, "No more invocations.") : await emptyState(filters));
    } catch (err) { message.append(errorBox(err)); }
  }

  const off = live.on((event) => {
    if (event.event !== "invocation_state") return;
    const inv = event.invocation;
    const existing = rows.get(inv.id);
    if (existing) {
      if (!matches(inv)) { existing.remove(); rows.delete(inv.id); return; }
      renderRow(inv, existing);
      return;
    }
    if (offset !== 0 || !matches(inv)) return;
    const tr = renderRow(inv);
    tr.classList.add("fresh");
    rows.set(inv.id, tr);
    tbody.prepend(tr);
    $(".empty", root)?.remove();
    while (tbody.children.length > PAGE) {
      const last = tbody.lastElementChild;
      rows.delete(last.dataset.id);
      last.remove();
      older.disabled = false;
    }
  });
  // Keep "…" durations of running rows honest without a request per row.
  const tick = setInterval(() => {
    for (const tr of rows.values()) {
      if (tr.dataset.status === "running") tr.querySelector(".duration").textContent = "running…";
    }
  }, 1000);

  root.replaceChildren(
    h("h1", {}, "Invocations"),
    h("div", { class: "filters" }, appSel, actionSel, statusSel, search,
      h("button", { onclick: () => { location.hash = "#/invocations"; } }, "Clear")),
    message,
    h("table", { id: "invocations" },
      h("thead", {}, h("tr", {}, ["Status", "ID", "App / action", "Version", "Started", "Duration", "Gen"].map((t) => h("th", {}, t)))),
      tbody),
    h("div", { class: "pager" }, newer, older, pageInfo),
  );
  load();
  return () => { off(); clearInterval(tick); clearTimeout(timer); };
}

function invocationView(root, id) {
  const abort = new AbortController();
  const header = h("div", { class: "row" });
  const info = h("dl", { class: "grid" });
  const timeline = h("ul", { class: "timeline" });
  const payload = h("pre", { class: "json", id: "payload" });
  const output = h("pre", { class: "json", id: "output" });
  const logs = h("pre", { class: "logs", id: "logs" });
  const logsNote = h("span", { class: "muted" });
  const actionMsg = h("div", { id: "action-message" });
  const cmd = h("code", { class: "cmd", id: "invoke-command" });
  const failure = h("div", { id: "failure" });
  const trace = tracePanel(id);
  const logLines = [];
  let inv = null;

  function renderInvocation(next) {
    inv = { ...(inv || {}), ...next };
    header.replaceChildren(statusPill(inv.status), h("strong", {}, `${inv.app_name} / ${inv.action_name}`),
      h("span", { class: "muted" }, `version ${inv.version}`), h("span", { class: "mono muted" }, inv.id));
    const rows = [
      ["status reason", inv.status_reason || "—"],
      ["code generation", inv.code_generation ?? "—"],
      ["mode", inv.async === undefined ? "—" : inv.async ? "async" : "sync"],
      ["timeout", inv.timeout_seconds ? `${inv.timeout_seconds} s` : "—"],
      ["deployment", inv.deployment_id || "live code"],
      ["duration", duration(inv)],
    ];
    info.replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { dataset: { field: k } }, v)]));
    const start = parseTime(inv.started_at);
    const steps = [
      ["queued", inv.started_at],
      ["running", inv.running_at || (inv.status !== "queued" ? inv.started_at : null)],
      [inv.status === "failed" ? "failed" : "succeeded", inv.finished_at],
    ];
    timeline.replaceChildren(...steps.map(([name, ts]) => h("li", { class: ts ? "done" : "" },
      h("strong", {}, name), " ", ts ? `${clock(ts)} (+${humanMs(parseTime(ts) - start)})` : "—")));
    payload.textContent = pretty(inv.payload);
    output.textContent = pretty(inv.output);
    // A failure reads like a console: the reason on top, the traceback as text.
    trace.setInvocation(inv);
    const shown = inv.status === "failed" ? `${inv.status_reason || ""}\u0000${inv.output || ""}` : "";
    if (failure.dataset.shown !== shown) {
      failure.dataset.shown = shown;
      failure.replaceChildren(...(shown ? [h("div", { class: "panel failure", role: "alert" },
        h("div", { class: "reason", id: "status-reason-top" }, inv.status_reason || "failed"),
        inv.output ? consoleOutput(inv.output) : null)] : []));
    }
    const version = inv.version && inv.version !== "latest" ? ` --version ${shellQuote(inv.version)}` : "";
    const body = inv.payload ? ` -p ${shellQuote(inv.payload)}` : "";
    // The CLI's default is the runner on :8484; elsewhere the command must say where.
    const apiUrl = location.origin === DEFAULT_API_URL ? "" : ` --api-url ${shellQuote(location.origin)}`;
    cmd.textContent = `kernel-actions invoke ${shellQuote(inv.app_name)} ${shellQuote(inv.action_name)}${body}${version}${apiUrl}`;
    const terminal = inv.status === "succeeded" || inv.status === "failed";
    for (const b of root.querySelectorAll("button[data-mark]")) b.disabled = terminal;
  }

  function addLog(event) {
    logs.append(h("div", { class: "line" }, h("span", { class: "ts" }, clock(event.timestamp)), event.message));
    logs.scrollTop = logs.scrollHeight;
    logLines.push({ timestamp: event.timestamp, message: event.message });
    trace.setLogs(logLines);
  }

  async function replay() {
    actionMsg.replaceChildren();
    try {
      const body = { app_name: inv.app_name, action_name: inv.action_name, version: inv.version, async: true };
      if (inv.payload !== null && inv.payload !== undefined) body.payload = inv.payload;
      const { data } = await api("POST", "/invocations", body);
      location.hash = `#/invocations/${encodeURIComponent(data.id)}`;
    } catch (err) { actionMsg.append(errorBox(err)); }
  }

  async function mark(status) {
    actionMsg.replaceChildren();
    try {
      const { data } = await api("PATCH", `/invocations/${encodeURIComponent(id)}`, { status });
      renderInvocation(data);
      actionMsg.append(h("p", { class: "muted" }, `marked ${status}`));
    } catch (err) { actionMsg.append(errorBox(err)); }
  }

  async function copy() {
    actionMsg.replaceChildren();
    try {
      await navigator.clipboard.writeText(cmd.textContent);
      actionMsg.append(h("p", { class: "muted" }, "command copied"));
    } catch {
      const range = document.createRange();
      range.selectNodeContents(cmd);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      actionMsg.append(h("p", { class: "muted" }, "select-all done: press Ctrl-C to copy"));
    }
  }

  root.replaceChildren(
    h("p", {}, h("a", { href: "#/invocations" }, "← all invocations")),
    h("div", { class: "panel" }, header,
      h("div", { class: "row buttons" },
        h("button", { class: "primary", onclick: replay, id: "replay" }, "Replay"),
        h("button", { onclick: () => mark("succeeded"), dataset: { mark: "succeeded" } }, "Mark succeeded"),
        h("button", { onclick: () => mark("failed"), dataset: { mark: "failed" } }, "Mark failed"),
        h("button", { onclick: copy, id: "copy-command" }, "Copy invoke command")),
      cmd, actionMsg),
    failure,
    trace.el,
    h("div", { class: "cols" },
      h("div", { class: "panel" }, h("h2", {}, "Details"), info, h("h2", {}, "Timeline"), timeline),
      h("div", { class: "panel" }, h("h2", {}, "Logs ", logsNote), logs)),
    h("div", { class: "cols" },
      h("div", { class: "panel" }, h("h2", {}, "Payload"), payload),
      h("div", { class: "panel" }, h("h2", {}, "Output"), output)),
  );

  (async () => {
    try {
      renderInvocation((await api("GET", `/invocations/${encodeURIComponent(id)}?detail=1`)).data);
    } catch (err) { root.replaceChildren(h("p", {}, h("a", { href: "#/invocations" }, "← all invocations")), errorBox(err)); return; }
    logsNote.textContent = "(streaming)";
    try {
      await readEvents(`/invocations/${encodeURIComponent(id)}/events`, (event) => {
        if (event.event === "log") addLog(event);
        else if (event.event === "invocation_state") renderInvocation(event.invocation);
      }, abort.signal);
      logsNote.textContent = logs.childNodes.length ? "" : "(no log lines)";
      // The stream ends when the invocation does: fetch what the stream does not carry.
      renderInvocation((await api("GET", `/invocations/${encodeURIComponent(id)}?detail=1`)).data);
      trace.refresh();
    } catch (err) {
      if (!abort.signal.aborted) logsNote.textContent = `(stream ended: ${err.message})`;
    }
  })();
  trace.refresh();
  const tick = setInterval(() => { if (inv && !inv.finished_at) renderInvocation({}); }, 1000);
  // Its browsers may outlive it: their steps keep coming after it ends.
  const tracing = setInterval(() => { if (!document.hidden) trace.refresh(); }, 2000);
  return () => { abort.abort(); clearInterval(tick); clearInterval(tracing); trace.stop(); };
}

// ---------------------------------------------------------------------------------------------
// Forms generated from an action's payload JSON Schema.

function resolveRef(schema, root) {
  let s = schema || {};
  for (let i = 0; i < 32 && s && s.$ref; i++) {
    const name = decodeURIComponent(s.$ref.split("/").pop());
    s = { ...((root.$defs || root.definitions || {})[name] || {}), ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== "$ref")) };
  }
  return s || {};
}

// Optional[X] is anyOf [X, null]: the field is X, and empty means null.
function unwrapNullable(schema, root) {
  const s = resolveRef(schema, root);
  const alts = s.anyOf || s.oneOf;
  if (Array.isArray(alts)) {
    const rest = alts.filter((a) => resolveRef(a, root).type !== "null");
    if (rest.length === 1 && rest.length < alts.length) {
      return { schema: { ...resolveRef(rest[0], root), title: s.title, description: s.description, default: s.default }, nullable: true };
    }
  }
  return { schema: s, nullable: false };
}

// A skeleton value for a schema, shown as the placeholder of a JSON field.
function skeleton(schema, root, depth = 0) {
  const s = unwrapNullable(schema, root).schema;
  if (depth > 4) return null;
  if (s.default !== undefined) return s.default;
  if (s.enum) return s.enum[0];
  switch (s.type) {
    case "object":
      if (s.properties) return Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, skeleton(v, root, depth + 1)]));
      return {};
    case "array": return s.items ? [skeleton(s.items, root, depth + 1)] : [];
    case "string": return "";
    case "integer": case "number": return s.minimum ?? 0;
    case "boolean": return false;
    default: return null;
  }
}

function pathKey(path) { return path.map(String).join("."); }

// Returns { el, get(), set(value) }; get() gives undefined for "leave it out".
function buildField(rawSchema, root, path, label, required) {
  const { schema, nullable } = unwrapNullable(rawSchema, root);
  const key = pathKey(path);
  const hintParts = [];
  if (schema.type) hintParts.push(Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type);
  if (!required) hintParts.push("optional");
  const labelEl = label === null ? null : h("label", { for: `f-${key}` }, label, h("span", { class: "hint" }, hintParts.join(", ")));
  const desc = schema.description ? h("div", { class: "hint" }, schema.description) : null;
  const wrap = (control) => h("div", { class: "field", dataset: { path: key } }, labelEl, control, desc);

  if (schema.type === "object" && schema.properties) {
    const req = new Set(schema.required || []);
    const children = Object.entries(schema.properties).map(([name, sub]) => [name,
      buildField(sub, root, [...path, name], resolveRef(sub, root).title || name, req.has(name))]);
    const box = label === null ? h("div", {}, children.map(([, f]) => f.el))
      : h("fieldset", { dataset: { path: key } }, h("legend", {}, label), desc, children.map(([, f]) => f.el));
    return {
      el: box,
      get() {
        if (!required && label !== null && children.every(([, f]) => f.empty())) {
          return undefined; // an optional object left blank is left out
        }
        const out = {};
        for (const [name, f] of children) { const v = f.get(); if (v !== undefined) out[name] = v; }
        return out;
      },
      empty: () => children.every(([, f]) => f.empty()),
      set(v) { for (const [name, f] of children) f.set(v && typeof v === "object" ? v[name] : undefined); },
    };
  }
  const enumValues = schema.enum || (schema.const !== undefined ? [schema.const] : null);
  if (enumValues) {
    const sel = h("select", { id: `f-${key}`, name: key },
      !required || nullable ? h("option", { value: "" }, nullable ? "(none)" : "(default)") : null,
      enumValues.map((v, i) => h("option", { value: String(i) }, typeof v === "string" ? v : JSON.stringify(v))));
    const set = (v) => { const i = enumValues.findIndex((e) => JSON.stringify(e) === JSON.stringify(v)); sel.value = i >= 0 ? String(i) : (sel.options[0]?.value ?? ""); };
    set(schema.default);
    const initial = sel.value;
    return { el: wrap(sel), get: () => (sel.value === "" ? (nullable && required ? null : undefined) : enumValues[Number(sel.value)]),
      set, empty: () => sel.value === initial };
  }
  if (schema.type === "boolean") {
    const box = h("input", { type: "checkbox", id: `f-${key}`, name: key });
    box.checked = Boolean(schema.default);
    return { el: wrap(box), get: () => box.checked, set: (v) => { box.checked = Boolean(v); },
      empty: () => box.checked === Boolean(schema.default) };
  }
  if (schema.type === "integer" || schema.type === "number") {
    const input = h("input", { type: "number", id: `f-${key}`, name: key,
      step: schema.type === "integer" ? (schema.multipleOf || 1) : (schema.multipleOf || "any"),
      min: schema.minimum ?? schema.exclusiveMinimum, max: schema.maximum ?? schema.exclusiveMaximum });
    const set = (v) => { input.value = v === undefined || v === null ? "" : String(v); };
    set(schema.default);
    return {
      el: wrap(input),
      get() {
        if (input.value.trim() === "") return nullable && required ? null : (required ? "" : undefined);
        const n = Number(input.value);
        return Number.isFinite(n) ? n : input.value;
      },
      set,
      empty: () => input.value.trim() === "" || input.value === String(schema.default ?? ""),
    };
  }
  if (schema.type === "string") {
    const input = h("input", { type: "text", id: `f-${key}`, name: key, size: 40,
      minlength: schema.minLength, maxlength: schema.maxLength, pattern: schema.pattern,
      placeholder: schema.format || (schema.examples ? String(schema.examples[0]) : null) });
    const set = (v) => { input.value = v === undefined || v === null ? "" : String(v); };
    set(schema.default);
    return {
      el: wrap(input),
      get() {
        if (input.value === "" && !required) return undefined;
        if (input.value === "" && nullable) return null;
        return input.value;
      },
      set,
      empty: () => input.value === "" || input.value === String(schema.default ?? ""),
    };
  }
  // Arrays, maps, unions and anything else: JSON for that field.
  const example = skeleton(schema, root);
  const area = h("textarea", { id: `f-${key}`, name: key, rows: 4,
    placeholder: example === null ? "JSON" : `JSON, e.g. ${JSON.stringify(example)}` });
  const set = (v) => { area.value = v === undefined ? "" : JSON.stringify(v, null, 2); };
  set(schema.default);
  return {
    el: wrap(area),
    get() {
      const text = area.value.trim();
      if (!text) return required ? (nullable ? null : undefined) : undefined;
      try { return JSON.parse(text); } catch { throw new FieldError(key, "not valid JSON"); }
    },
    set,
    empty: () => area.value.trim() === "",
  };
}

class FieldError extends Error { constructor(path, message) { super(message); this.path = path; } }

function showFieldErrors(form, errors) {
  for (const el of form.querySelectorAll(".field-error")) el.remove();
  for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
  const general = [];
  for (const e of errors) {
    const loc = (e.loc || []).filter((p) => typeof p === "string" || typeof p === "number");
    let target = null;
    for (let n = loc.length; n >= 0 && !target; n--) {
      target = form.querySelector(`[data-path="${CSS.escape(pathKey(loc.slice(0, n)))}"]`);
    }
    const text = loc.length ? `${loc.join(".")}: ${e.msg}` : e.msg;
    if (target && target.matches(".field, fieldset")) {
      target.classList.add("invalid");
      target.append(h("div", { class: "field-error", role: "alert" }, e.msg));
    } else general.push(text);
  }
  return general;
}

function appsView(root, appName, actionName) {
  const side = h("div", { class: "panel action-list" });
  const main = h("div", {});
  root.replaceChildren(h("h1", {}, "Apps and actions"), h("div", { class: "apps" }, side, main));

  loadApps(true).then((list) => {
    if (!list.length) {
      side.append(h("p", { class: "muted" }, "No apps are served."));
      return;
    }
    for (const app of list) {
      side.append(h("div", { class: "app" }, app.app_name, h("span", { class: "hint muted" }, ` ${app.version}`)));
      for (const action of app.actions) {
        const href = `#/apps/${encodeURIComponent(app.app_name)}/${encodeURIComponent(action.name)}?version=${encodeURIComponent(app.version)}`;
        side.append(h("a", { href, class: app.app_name === appName && action.name === actionName ? "active" : "" }, action.name));
      }
    }
    const version = new URLSearchParams(location.hash.split("?")[1] || "").get("version");
    const app = list.find((a) => a.app_name === appName && (!version || a.version === version)) || (appName ? null : list[0]);
    const action = app && (app.actions.find((a) => a.name === actionName) || (actionName ? null : app.actions[0]));
    if (!app || !action) {
      main.append(h("div", { class: "panel" }, appName ? `No action ${appName}/${actionName} is served.` : "Pick an action."));
      return;
    }
    main.append(actionPanel(app, action));
  }).catch((err) => side.append(errorBox(err)));
  return () => {};
}

function actionPanel(app, action) {
  const schema = action.input_schema;
  const form = h("form", { class: "schema", id: "action-form", onsubmit: (e) => { e.preventDefault(); invoke(false); } });
  const raw = h("textarea", { id: "raw-payload", name: "raw", rows: 10, hidden: true, placeholder: "payload as JSON" });
  const rawToggle = h("input", { type: "checkbox", id: "raw-mode" });
  const result = h("div", { id: "result" });
  const general = h("div", {});
  let field = null;
  if (schema === null || schema === undefined) {
    form.append(h("p", { class: "muted" }, "This action takes no payload."));
  } else {
    field = buildField(schema, schema, [], schema.type === "object" && schema.properties ? null : "payload", true);
    form.append(field.el);
  }
  rawToggle.onchange = () => {
    if (rawToggle.checked) {
      try { const v = field ? field.get() : undefined; raw.value = v === undefined ? "" : JSON.stringify(v, null, 2); } catch { raw.value = ""; }
    } else if (field && raw.value.trim()) {
      try { field.set(JSON.parse(raw.value)); } catch { /* keep the form as it was */ }
    }
    raw.hidden = !rawToggle.checked;
    form.hidden = rawToggle.checked;
  };

  function payloadText() {
    if (rawToggle.checked) return raw.value.trim() || undefined;
    if (!field) return undefined;
    const v = field.get();
    return v === undefined ? undefined : JSON.stringify(v);
  }

  async function invoke(asAsync) {
    result.replaceChildren();
    general.replaceChildren();
    showFieldErrors(form, []);
    let payload;
    try { payload = payloadText(); } catch (err) {
      if (err instanceof FieldError) { showFieldErrors(form, [{ loc: err.path.split("."), msg: err.message }]); return; }
      throw err;
    }
    const body = { app_name: app.app_name, action_name: action.name, version: app.version, async: asAsync };
    if (payload !== undefined) body.payload = payload;
    result.append(h("p", { class: "muted" }, asAsync ? "queued…" : "running…"));
    let created;
    try { created = (await api("POST", "/invocations", body)).data; } catch (err) {
      result.replaceChildren(errorBox(err));
      return;
    }
    const link = h("a", { href: `#/invocations/${encodeURIComponent(created.id)}` }, created.id);
    const view = (inv) => {
      const out = [h("div", { class: "row" }, statusPill(inv.status), link)];
      if (inv.status_reason) out.push(h("p", { class: inv.status === "failed" ? "error" : "muted", id: "status-reason" }, inv.status_reason));
      if (inv.output !== undefined && inv.output !== null) out.push(h("pre", { class: "json", id: "result-output" }, pretty(inv.output)));
      result.replaceChildren(h("div", { class: "panel" }, out));
      if (inv.status === "failed" && inv.output) {
        try {
          const parsed = JSON.parse(inv.output);
          if (parsed && Array.isArray(parsed.errors)) {
            const rest = rawToggle.checked ? parsed.errors.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`) : showFieldErrors(form, parsed.errors);
            if (rest.length) general.append(h("ul", { class: "error" }, rest.map((t) => h("li", {}, t))));
          }
        } catch { /* output is not JSON */ }
      }
    };
    view(created);
    if (asAsync) {
      // Follow it to the end on its own stream.
      readEvents(`/invocations/${encodeURIComponent(created.id)}/events`, (event) => {
        if (event.event === "invocation_state") view(event.invocation);
      }).catch(() => {});
    }
  }

  return h("div", { class: "panel" },
    h("h2", {}, `${app.app_name} / ${action.name}`, h("span", { class: "hint muted" }, ` version ${app.version}`)),
    action.description ? h("p", { class: "description" }, action.description) : null,
    h("label", { class: "row muted" }, rawToggle, "raw JSON"),
    form, raw, general,
    h("div", { class: "row buttons" },
      h("button", { class: "primary", id: "invoke-sync", onclick: () => invoke(false) }, "Invoke"),
      h("button", { id: "invoke-async", onclick: () => invoke(true) }, "Invoke async")),
    result,
    action.output_schema ? h("details", {}, h("summary", { class: "muted" }, "output schema"),
      h("pre", { class: "json" }, JSON.stringify(action.output_schema, null, 2))) : null,
  );
}

function runnerView(root) {
  const body = h("div", {});
  const deployments = h("div", {});
  root.replaceChildren(h("h1", {}, "Runner"), body, deployments);

  function render(r) {
    const pools = r.pools.map((p) => h("tr", {},
      h("td", {}, p.version), h("td", {}, p.target), h("td", {}, p.generation), h("td", {}, p.pid ?? "—"),
      h("td", { class: p.load_error ? "error" : "" }, p.load_error ? `${p.load_error.message}${p.load_error.location ? ` (${p.load_error.location})` : ""}` : "ok")));
    body.replaceChildren(h("div", { class: "panel" },
    h("dl", { class: "grid" }, [["url", r.url], ["pid", r.pid], ["started", r.started_at],
      ["entrypoint", r.entrypoint || "— (deployments only)"], ["reload on save", r.reload ? "on" : "off"],
      ["running", r.running], ["queued", r.queued], ["max concurrency", r.max_concurrency],
      ["live code", r.live ? `generation ${r.live.generation}${r.live.load_error ? " (last reload failed)" : ""}` : "—"],
    ].flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
    h("div", { class: "panel" }, h("h2", {}, "Code being served"),
      h("table", {}, h("thead", {}, h("tr", {}, ["Version", "Code", "Gen", "Worker pid", "Last load"].map((t) => h("th", {}, t)))), h("tbody", {}, pools))));
  }
  if (live.runner) render(live.runner);
  api("GET", "/_runner/status").then(({ data }) => render(data)).catch((err) => body.replaceChildren(errorBox(err)));
  api("GET", "/deployments?limit=50").then(({ data }) => {
    if (!data.length) return;
    deployments.replaceChildren(h("div", { class: "panel" }, h("h2", {}, "Deployed versions"),
      h("table", {}, h("thead", {}, h("tr", {}, ["Version", "Apps", "Status", "Created", "ID", "Reason"].map((t) => h("th", {}, t)))),
        h("tbody", {}, data.map((d) => h("tr", {}, h("td", {}, d.version), h("td", {}, (d.app_names || []).join(", ")),
          h("td", {}, d.status), h("td", {}, d.created_at), h("td", { class: "mono" }, d.id), h("td", {}, d.status_reason || "")))))));
  }).catch(() => {});
  const off = live.on((event) => { if (event.event === "runner_state") render(event.runner); });
  return off;
}

// ---------------------------------------------------------------------------------------------
// The key prompt (when the runner was started with --api-key).

let asking = false;
function askForKey(message) {
  if (asking) return;
  asking = true;
  const input = h("input", { type: "password", id: "api-key", size: 36, autocomplete: "off" });
  const form = h("form", { class: "panel keybox", onsubmit: (e) => {
    e.preventDefault();
    auth.key = input.value.trim();
    sessionStorage.setItem("kernel-actions-key", auth.key);
    asking = false;
    location.reload();
  } }, h("h2", {}, "API key"),
  h("p", { class: "muted" }, message || "This runner needs its API key (--api-key)."),
  h("div", { class: "row" }, input, h("button", { class: "primary" }, "Use key")));
  $("#view").replaceChildren(form);
  input.focus();
}

// ---------------------------------------------------------------------------------------------
// Routing

let cleanup = () => {};
function route() {
  cleanup();
  cleanup = () => {};
  if (asking) return;
  const [path, query] = (location.hash.slice(1) || "/invocations").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const root = $("#view");
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === (parts[0] || "invocations"));
  if (parts[0] === "invocations" && parts[1]) cleanup = invocationView(root, parts[1]);
  else if (parts[0] === "apps") cleanup = appsView(root, parts[1], parts[2]);
  else if (parts[0] === "runner") cleanup = runnerView(root);
  else if (parts[0] === "browsers") cleanup = browsersView(root);
  else cleanup = invocationsView(root, params);
  document.title = `kernel-actions · ${parts[0] || "invocations"}`;
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  if (auth.key) sessionStorage.setItem("kernel-actions-key", auth.key);
  if (new URLSearchParams(location.search).has("key")) {
    history.replaceState(null, "", location.pathname + location.hash); // keep the key out of history
  }
  live.start();
  route();
});
