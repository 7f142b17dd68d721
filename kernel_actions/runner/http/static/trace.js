// The dashboard's agent debugger: an invocation's trace (every call on its browsers, beside
// its log lines, with the screen, the click point, the code and its result, the replay), and
// the Browsers view. Loaded after app.js, whose helpers (h, api, clock, humanMs...) it uses.
// Every value from the API is inserted as text, never as HTML.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

/** A screenshot of the API, as a data: URL (an <img> can't send the key; the page's CSP
 *  allows data: images). */
const shotCache = new Map();
async function screenshotUrl(invId, step) {
  const key = `${invId}/${step}`;
  if (!shotCache.has(key)) {
    shotCache.set(key, (async () => {
      const resp = await fetch(`/_runner/invocations/${encodeURIComponent(invId)}/trace/${step}/screenshot`,
        { headers: { ...headers(false), Accept: "image/png" } });
      if (!resp.ok) throw new Error(`screenshot of step ${step}: HTTP ${resp.status}`);
      const blob = await resp.blob();
      return await new Promise((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.onerror = () => reject(reader.error);
        reader.readAsDataURL(blob);
      });
    })());
  }
  return shotCache.get(key);
}

/** The points an action acted at, in screen coordinates: [[x, y], ...], and whether they
 *  form a path (a drag). */
function actionPoints(step) {
  const a = step.args || {};
  const one = (kind, args) => {
    if (!args) return [];
    if (kind.endsWith("drag_mouse") && Array.isArray(args.path)) return [args.path.map((p) => [p[0], p[1]])];
    if (typeof args.x === "number" && typeof args.y === "number") return [[[args.x, args.y]]];
    return [];
  };
  if (step.kind === "computer.batch" && Array.isArray(a.actions)) {
    return a.actions.flatMap((act) => one(act.type || "", act[act.type]));
  }
  return one(step.kind, a);
}

function stepSummary(step) {
  const a = step.args || {};
  const short = (s, n = 60) => (s.length > n ? s.slice(0, n) + "…" : s);
  switch (step.kind) {
    case "computer.click_mouse": return `(${a.x}, ${a.y})${a.button && a.button !== "left" ? " " + a.button : ""}${a.num_clicks > 1 ? ` ×${a.num_clicks}` : ""}`;
    case "computer.move_mouse": case "computer.scroll": return `(${a.x}, ${a.y})${a.delta_y ? ` Δy ${a.delta_y}` : ""}`;
    case "computer.drag_mouse": return `${(a.path || []).length} points`;
    case "computer.type": return JSON.stringify(short(String(a.text ?? "")));
    case "computer.press_key": return (a.keys || []).join(" ");
    case "computer.batch": return `${(a.actions || []).map((x) => x.type).join(", ")}`;
    case "playwright.execute": case "repl.execute": return short(String(a.code || "").replace(/\s+/g, " "));
    case "replay.start": case "replay.stop": return step.replay_id || "";
    case "browser.create": return step.result && step.result.viewport ? `${step.result.viewport.width}×${step.result.viewport.height}` : "";
    default: return "";
  }
}

function failedStep(step) {
  return step.status >= 400 || (/execute$/.test(step.kind) && step.result && step.result.success === false);
}

/** A failure's output (a JSON string) as a console would show it: the traceback as text, the
 *  user's own frames marked. Returns null when the output carries no traceback. */
function consoleOutput(raw) {
  let body;
  try { body = JSON.parse(raw); } catch { return null; }
  if (body && typeof body === "object" && Array.isArray(body.errors) && body.errors.length) {
    // Validation errors, each at its field of the payload.
    return h("ul", { class: "field-errors", id: "field-errors" }, body.errors.map((e) =>
      h("li", {}, h("code", {}, (e.loc || []).join(".") || "payload"), " ", String(e.msg || e.message || ""))));
  }
  if (!body || typeof body !== "object" || typeof body.traceback !== "string") return null;
  const pre = h("pre", { class: "traceback", id: "traceback" });
  for (const line of body.traceback.replace(/\s+$/, "").split("\n")) {
    const frame = /^\s*File "([^"]+)", line \d+/.exec(line);
    const mine = frame && !/site-packages|kernel_actions[\\/]|<frozen|lib[\\/]python/.test(frame[1]);
    pre.append(h("span", { class: frame ? (mine ? "frame mine" : "frame") : "" }, line), "\n");
  }
  return h("div", { class: "console" }, body.hint ? h("div", { class: "console-head" }, body.hint) : null, pre);
}

/** The trace panel of the invocation view. Returns {el, setLogs(lines), refresh(), stop()}. */
function tracePanel(invId) {
  let steps = [];
  let logLines = [];
  let selected = null;
  let replays = []; // [{browser_id, replay_id, video_url, started_ns, stopped}]
  const list = h("ol", { class: "trace-list", id: "trace-steps", tabindex: "0", "aria-label": "Steps and log lines" });
  const detail = h("div", { class: "step-detail", id: "step-detail" });
  const note = h("span", { class: "muted", id: "trace-note" });
  const video = h("video", { id: "replay-video", controls: true, muted: true, preload: "metadata", hidden: true });
  const videoNote = h("div", { class: "muted" });
  const strip = h("div", { class: "filmstrip", id: "filmstrip", "aria-label": "The screen over the run" });
  const browsersRow = h("div", { class: "trace-browsers", id: "trace-browsers" });
  const el = h("div", { class: "panel", id: "trace" },
    h("h2", {}, "Browser steps ", note), browsersRow, strip,
    h("div", { class: "trace-cols" }, list, h("div", {}, detail, h("div", { class: "replay" }, video, videoNote))));
  let t0 = 0;
  let inv = null;
  let shownShot = null; // {step, after} of the screenshot the detail shows

  /** The invocation's own phases (queued, running) as bars beside its steps. */
  function invPhases() {
    if (!inv) return [];
    const created = parseTime(inv.started_at), running = parseTime(inv.running_at), done = parseTime(inv.finished_at);
    const now = Date.now();
    const out = [];
    if (!Number.isNaN(created)) out.push({ name: "queued", from: created, to: Number.isNaN(running) ? (Number.isNaN(done) ? now : done) : running, open: Number.isNaN(running) && Number.isNaN(done) });
    if (!Number.isNaN(running)) out.push({ name: "running", from: running, to: Number.isNaN(done) ? now : done, open: Number.isNaN(done) });
    return out;
  }

  function render() {
    const items = [
      ...steps.map((s) => ({ at: s.started_ns / 1e6, step: s })),
      ...logLines.map((l) => ({ at: parseTime(l.timestamp), log: l })),
    ].sort((a, b) => a.at - b.at);
    const phases = invPhases();
    t0 = Math.min(items.length ? items[0].at : Infinity, phases.length ? phases[0].from : Infinity);
    if (!Number.isFinite(t0)) t0 = 0;
    const end = Math.max(t0 + 1, ...steps.map((s) => s.started_ns / 1e6 + s.duration_ms),
      ...items.map((it) => it.at), ...phases.map((p) => p.to));
    const span = end - t0;
    // A waterfall: each bar starts and ends where its step did on the run's time axis.
    const place = (bar, from, ms) => {
      bar.style.marginLeft = `${((from - t0) / span) * 100}%`;
      bar.style.width = `${Math.max(0.4, (ms / span) * 100)}%`;
    };
    const prev = selected;
    const hadFocus = list.contains(document.activeElement); // kept across a re-render (new log lines)
    const phaseRows = phases.map((p) => {
      const bar = h("span", { class: `bar phase ${p.name}` });
      place(bar, p.from, p.to - p.from);
      return h("li", { class: "phase-row", dataset: { phase: p.name } },
        h("span", { class: "rel" }, `+${humanMs(p.from - t0)}`), h("span", { class: "kind" }, p.name),
        h("span", { class: "sum" }, p.open ? "so far" : ""), h("span", { class: "abs" }, clock(new Date(p.from).toISOString())),
        h("span", { class: "dur" }, h("span", { class: "bar-track" }, bar), humanMs(p.to - p.from)));
    });
    list.replaceChildren(...phaseRows, ...items.map((it) => {
      if (it.log) {
        return h("li", { class: "log-line" }, h("span", { class: "rel", title: it.log.timestamp }, `+${humanMs(it.at - t0)}`),
          h("span", { class: "msg" }, it.log.message));
      }
      const s = it.step;
      const bar = h("span", { class: "bar" });
      place(bar, it.at, s.duration_ms);
      return h("li", {
        class: `step${failedStep(s) ? " failed" : ""}`, tabindex: "-1",
        dataset: { step: s.step, kind: s.kind }, onclick: () => select(s.step),
      },
      h("span", { class: "rel", title: s.started_at }, `+${humanMs(it.at - t0)}`),
      h("span", { class: "kind" }, s.kind), h("span", { class: "sum" }, s.by ? `[${s.by}] ` : "", stepSummary(s)),
      h("span", { class: "abs" }, clock(s.started_at)),
      h("span", { class: "dur" }, h("span", { class: "bar-track" }, bar), humanMs(s.duration_ms)));
    }));
    if (prev !== null && steps.some((s) => s.step === prev)) {
      mark(prev);
      if (hadFocus) list.querySelector(`li.step[data-step="${prev}"]`)?.focus({ preventScroll: true });
    }
    renderStrip();
  }

  /** A filmstrip of the screen over the run: every screenshot (at most 40, evenly spread). */
  let stripFor = "";
  function renderStrip() {
    const shots = steps.filter((s) => s.has_screenshot);
    const every = Math.max(1, Math.ceil(shots.length / 40));
    const picked = shots.filter((_, i) => i % every === 0);
    const key = picked.map((s) => s.step).join(",");
    if (key === stripFor) return;
    stripFor = key;
    strip.replaceChildren(...picked.map((s) => {
      const img = h("img", { alt: `step ${s.step}` });
      screenshotUrl(invId, s.step).then((url) => { img.src = url; }).catch(() => {});
      return h("button", { class: "frame", type: "button", title: `step ${s.step} · +${humanMs(s.started_ns / 1e6 - t0)}`,
        dataset: { step: s.step }, onclick: () => select(s.step) }, img);
    }));
  }

  function mark(n) {
    for (const li of list.querySelectorAll("li.step")) li.classList.toggle("selected", Number(li.dataset.step) === n);
    const shown = steps.find((x) => x.step === n);
    const shot = shown ? shotFor(shown) : null;
    for (const b of strip.children) b.classList.toggle("selected", shot !== null && Number(b.dataset.step) === shot.step.step);
  }

  /** The screenshot to show for a step: its own, or the first one after it on its browser
   *  (the screen just after the action). */
  function shotFor(s) {
    if (s.has_screenshot) return { step: s, after: false };
    const next = steps.find((x) => x.step > s.step && x.browser_id === s.browser_id && x.has_screenshot);
    return next ? { step: next, after: true } : null;
  }

  function seek(s) {
    const rec = replays.find((r) => r.browser_id === s.browser_id && r.stopped && s.started_ns >= r.started_ns - 1e9);
    if (!rec) return;
    if (video.dataset.src !== rec.video_url) {
      video.dataset.src = rec.video_url;
      video.src = rec.video_url;
    }
    video.hidden = false;
    const at = Math.max(0, (s.started_ns - rec.started_ns) / 1e9);
    video.dataset.seekTo = at.toFixed(3);
    const set = () => { video.currentTime = at; };
    if (video.readyState >= 1) set(); else video.addEventListener("loadedmetadata", set, { once: true });
    videoNote.textContent = `replay ${rec.replay_id} at ${at.toFixed(2)} s (step ${s.step})`;
  }

  async function select(n, focus = true) {
    const s = steps.find((x) => x.step === n);
    if (!s) return;
    selected = n;
    shownShot = null;
    mark(n);
    const li = list.querySelector(`li.step[data-step="${n}"]`);
    if (li && focus) li.focus({ preventScroll: false });
    const rel = humanMs(s.started_ns / 1e6 - t0);
    const parts = [h("h3", {}, `Step ${s.step}: ${s.kind}`),
      h("dl", { class: "grid" },
        h("dt", {}, "started"), h("dd", {}, `${s.started_at} (+${rel})`),
        h("dt", {}, "took"), h("dd", {}, humanMs(s.duration_ms)),
        h("dt", {}, "browser"), h("dd", { class: "mono" }, s.browser_id),
        h("dt", {}, "status"), h("dd", {}, String(s.status)))];
    if (s.error) parts.push(h("pre", { class: "step-error" }, s.error));
    const shotBox = h("div", { class: "shot", id: "step-shot" });
    let shot = shotFor(s);
    // An action: the screen after it by default, the one the agent saw before it a click away.
    const before = s.has_screenshot ? null : [...steps].reverse().find((x) => x.step < s.step && x.browser_id === s.browser_id && x.has_screenshot);
    const caption = h("span", {});
    const tabs = h("span", { class: "shot-tabs" });
    const showShot = (which) => {
      shownShot = which;
      caption.textContent = which.after === true ? `the screen after this step (screenshot of step ${which.step.step})`
        : which.after === false && which.step.step !== s.step ? `the screen the agent saw before it (screenshot of step ${which.step.step})`
          : "the screenshot the agent got";
      for (const b of tabs.children) b.classList.toggle("on", b.dataset.shot === String(which.step.step));
      paint();
    };
    if (shot) {
      const options = [before ? { label: "Before", v: { step: before, after: false } } : null, shot.after ? { label: "After", v: shot } : null].filter(Boolean);
      if (options.length > 1) tabs.append(...options.map((o) => h("button", { type: "button", class: "tab", dataset: { shot: o.v.step.step }, onclick: () => showShot(o.v) }, o.label)));
      parts.push(h("div", { class: "muted shot-head" }, caption, tabs), shotBox);
    } else if (before) {
      shot = { step: before, after: false };
      parts.push(h("div", { class: "muted shot-head" }, caption), shotBox);
    }
    if (s.kind === "playwright.execute" || s.kind === "repl.execute") {
      parts.push(h("h3", {}, "Code"), h("pre", { class: "code", id: "step-code" }, (s.args && s.args.code) || ""));
      const r = s.result || {};
      if (r.success === false) parts.push(h("h3", {}, "Error"), h("pre", { class: "step-error", id: "step-result" }, String(r.error || "") + (r.stack ? `\n${r.stack}` : "")));
      else parts.push(h("h3", {}, "Result"), h("pre", { class: "json", id: "step-result" }, JSON.stringify(r.result !== undefined ? r.result : r.content, null, 2) ?? "undefined"));
      if (r.stderr) parts.push(h("h3", {}, "stderr"), h("pre", { class: "code" }, String(r.stderr)));
    } else if (s.args && Object.keys(s.args).length) {
      parts.push(h("h3", {}, "Request"), h("pre", { class: "json", id: "step-args" }, JSON.stringify(s.args, null, 2)));
    }
    detail.replaceChildren(...parts);
    seek(s);
    if (shot) showShot(shot);
  }

  async function paint() {
    const n = selected;
    const s = steps.find((x) => x.step === n);
    const shotBox = $("#step-shot", detail);
    const shot = shownShot;
    if (!s || !shot || !shotBox) return;
    try {
      const url = await screenshotUrl(invId, shot.step.step);
      if (selected !== n || shownShot !== shot) return;
      const img = h("img", { src: url, alt: `screenshot of step ${shot.step.step}` });
      shotBox.replaceChildren(img);
      const draw = () => {
        const w = img.naturalWidth, ht = img.naturalHeight;
        const over = svg("svg", { class: "marks", viewBox: `0 0 ${w} ${ht}`, preserveAspectRatio: "none" });
        for (const pts of actionPoints(s)) {
          if (pts.length > 1) {
            over.append(svg("polyline", { class: "drag", points: pts.map((p) => p.join(",")).join(" ") }));
          }
          const [x, y] = pts[pts.length - 1];
          over.append(svg("circle", { class: "click", cx: x, cy: y, r: Math.max(8, w / 80), "data-x": x, "data-y": y }));
        }
        shotBox.append(over);
      };
      if (img.complete && img.naturalWidth) draw(); else img.addEventListener("load", draw, { once: true });
    } catch (err) { shotBox.replaceChildren(h("span", { class: "error" }, err.message)); }
  }

  list.addEventListener("keydown", (e) => {
    const order = steps.map((s) => s.step);
    if (!order.length) return;
    let i = order.indexOf(selected);
    if (e.key === "ArrowDown" || e.key === "j") i = Math.min(order.length - 1, i + 1);
    else if (e.key === "ArrowUp" || e.key === "k") i = Math.max(0, i < 0 ? 0 : i - 1);
    else if (e.key === "Home") i = 0;
    else if (e.key === "End") i = order.length - 1;
    else return;
    e.preventDefault();
    select(order[i]);
  });

  /** The invocation's browsers: open (with its live view) or closed, and their replays. */
  let browsersAsked = 0;
  async function renderBrowsers() {
    browsersAsked = Date.now();
    let open = [];
    try { open = (await api("GET", `/invocations/${encodeURIComponent(invId)}/browsers`)).data.browsers || []; } catch { /* shown as closed */ }
    const ids = [...new Set([...steps.map((s) => s.browser_id), ...open.map((b) => b.session_id)])];
    browsersRow.replaceChildren(...ids.map((bid) => {
      const o = open.find((b) => b.session_id === bid);
      const links = [];
      if (o && o.browser_live_view_url) links.push(h("a", { href: o.browser_live_view_url, target: "_blank", rel: "noopener" }, "live view"));
      for (const r of replays.filter((x) => x.browser_id === bid && x.stopped)) {
        links.push(h("a", { href: r.video_url, download: `replay-${r.replay_id}.mp4`, class: "replay-link" }, "replay"));
      }
      return h("span", { class: `browser-chip ${o ? "open" : "closed"}`, dataset: { browser: bid } },
        h("span", { class: "mono" }, bid), h("span", { class: "state" }, o ? "open" : "closed"),
        links.flatMap((a) => [" · ", a]));
    }));
  }

  let inflight = null;
  function refresh() {
    // One at a time: two asking "after N" at once would both append the same steps.
    if (!inflight) inflight = fetchNew().finally(() => { inflight = null; });
    return inflight;
  }

  async function fetchNew() {
    try {
      // Only the steps not seen yet: a long trace is sent once.
      const after = steps.length ? steps[steps.length - 1].step : 0;
      const { data } = await api("GET", `/_runner/invocations/${encodeURIComponent(invId)}/trace?after=${after}`);
      const changed = data.steps.length > 0;
      steps = steps.concat(data.steps);
      const stopped = new Set(steps.filter((s) => s.kind === "replay.stop" && s.status < 300).map((s) => s.replay_id));
      replays = steps.filter((s) => s.kind === "replay.start" && s.video_url).map((s) => ({
        browser_id: s.browser_id, replay_id: s.replay_id, video_url: s.video_url,
        started_ns: s.recording_started_ns || s.started_ns, stopped: stopped.has(s.replay_id),
      }));
      note.textContent = !data.enabled && !steps.length ? "(tracing is off: KERNEL_ACTIONS_TRACE=0)" : steps.length ? `(${steps.length}${data.dropped ? `, ${data.dropped} over the trace's bounds left out` : ""})`
        : "(none: browsers created with this invocation's id show their calls here)";
      el.classList.toggle("empty-trace", !steps.length);
      if (changed) render();
      if (changed || Date.now() - browsersAsked > 10000) renderBrowsers();
      if (selected === null && steps.length) select(steps[0].step, false);
    } catch (err) { note.textContent = `(${err.message})`; }
  }

  let timer = null;
  function setLogs(lines) { logLines = lines; clearTimeout(timer); timer = setTimeout(render, 50); }
  /** The invocation (its times give the queued / running bars). */
  function setInvocation(next) {
    const key = `${next.started_at}|${next.running_at}|${next.finished_at}`;
    const old = inv ? `${inv.started_at}|${inv.running_at}|${inv.finished_at}` : "";
    inv = next;
    if (key !== old) { clearTimeout(timer); timer = setTimeout(render, 50); }
  }
  return { el, setLogs, setInvocation, refresh, stop: () => clearTimeout(timer) };
}

// ---------------------------------------------------------------------------------------------
// The Browsers view: open browsers (their invocation, viewport, idle clock, live view, close)
// and closed ones with their replays.

function browsersView(root) {
  const open = h("tbody", {});
  const closed = h("div", { id: "closed-browsers" });
  const message = h("div", {});
  let data = { open: [], closed: [] };
  let loadedAt = performance.now();
  let watching = null; // the browser whose live view is embedded

  function invLink(id) {
    return id ? h("a", { href: `#/invocations/${encodeURIComponent(id)}` }, id) : h("span", { class: "muted" }, "—");
  }

  /** The live view, embedded (same origin: the page's own path), input and all. */
  function liveRow(b) {
    const url = new URL(b.browser_live_view_url, location.href);
    const frame = h("iframe", { src: url.pathname + url.hash, title: `live view of ${b.session_id}`, class: "live-frame" });
    return h("tr", { class: "live-row", dataset: { live: b.session_id } }, h("td", { colspan: 8 }, frame));
  }

  let liveEl = null;
  function renderOpen() {
    const idleFor = (b) => b.idle_seconds + (performance.now() - loadedAt) / 1000;
    if (watching && !data.open.some((b) => b.session_id === watching && b.browser_live_view_url)) { watching = null; liveEl = null; }
    if (liveEl && liveEl.isConnected && open.querySelector(`tr[data-id="${CSS.escape(watching)}"]`)) {
      // Only the clocks move: keep the embedded live view (and its connection) as it is.
      for (const b of data.open) {
        const cell = open.querySelector(`tr[data-id="${CSS.escape(b.session_id)}"] .idle`);
        if (cell) cell.textContent = humanMs(idleFor(b) * 1000);
      }
      return;
    }
    open.replaceChildren(...(data.open.length ? data.open.flatMap((b) => [h("tr", { dataset: { id: b.session_id } },
      h("td", { class: "mono" }, b.session_id), h("td", { class: "mono" }, invLink(b.invocation_id)),
      h("td", {}, b.viewport ? `${b.viewport.width}×${b.viewport.height}` : "—"),
      h("td", {}, b.headless ? "headless" : "headful"),
      h("td", { class: "idle" }, humanMs(idleFor(b) * 1000)),
      h("td", {}, b.timeout_seconds ? `${b.timeout_seconds} s` : "—"),
      h("td", {}, b.browser_live_view_url ? h("a", { href: b.browser_live_view_url, target: "_blank", rel: "noopener" }, "live view") : h("span", { class: "muted" }, "none (headless)")),
      h("td", { class: "row" }, b.browser_live_view_url ? h("button", { class: "watch", onclick: () => { watching = watching === b.session_id ? null : b.session_id; liveEl = null; renderOpen(); } }, watching === b.session_id ? "Hide" : "Watch") : null,
        h("button", { class: "close", onclick: () => close(b.session_id) }, "Close"))),
    watching === b.session_id ? (liveEl = liveRow(b)) : null].filter(Boolean))
      : [h("tr", {}, h("td", { colspan: 8, class: "muted empty" }, "No browser is open. An action opens one with kernel.browsers.create(invocation_id=ctx.invocation_id)."))]));
  }

  async function close(id) {
    message.replaceChildren();
    try {
      await api("DELETE", `/browsers/${encodeURIComponent(id)}`);
      message.append(h("p", { class: "muted" }, `closed ${id}`));
    } catch (err) { message.append(errorBox(err)); }
    load();
  }

  async function renderClosed() {
    if (!data.closed.length) { closed.replaceChildren(h("p", { class: "muted" }, "None yet.")); return; }
    const rows = data.closed.slice(0, 50).map((b) => {
      const cell = h("td", { class: "replays" }, "…");
      api("GET", `/browsers/${encodeURIComponent(b.session_id)}/replays`).then(({ data: reps }) => {
        cell.replaceChildren(...(reps.length ? reps.map((r) => {
          const video = `/_dashboard/replays/${encodeURIComponent(b.session_id)}/${encodeURIComponent(r.replay_id)}/video`;
          return h("div", { class: "replay-row" }, h("span", { class: "mono" }, r.replay_id), " ",
            h("a", { href: r.replay_view_url || video, target: "_blank", rel: "noopener" }, "play"), " · ",
            h("a", { href: video, download: `replay-${r.replay_id}.mp4` }, "download"));
        }) : [h("span", { class: "muted" }, "no replay")]));
      }).catch(() => cell.replaceChildren(h("span", { class: "muted" }, "no replay kept")));
      return h("tr", { dataset: { id: b.session_id } }, h("td", { class: "mono" }, b.session_id),
        h("td", { class: "mono" }, invLink(b.invocation_id)), h("td", { title: b.created_at || "" }, clock(b.created_at)),
        h("td", { title: b.deleted_at || "" }, clock(b.deleted_at)), cell);
    });
    closed.replaceChildren(h("table", { id: "closed-table" },
      h("thead", {}, h("tr", {}, ["Session", "Invocation", "Created", "Closed", "Replays"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows)));
  }

  async function load() {
    try {
      data = (await api("GET", "/_runner/browsers")).data;
      loadedAt = performance.now();
      renderOpen();
      renderClosed();
    } catch (err) { message.replaceChildren(errorBox(err)); }
  }

  root.replaceChildren(h("h1", {}, "Browsers"), message,
    h("div", { class: "panel" }, h("h2", {}, "Open"),
      h("table", { id: "open-browsers" }, h("thead", {}, h("tr", {},
        ["Session", "Invocation", "Viewport", "Mode", "Idle", "Timeout", "Live view", ""].map((t) => h("th", {}, t)))), open)),
    h("div", { class: "panel" }, h("h2", {}, "Closed"), closed));
  load();
  const tick = setInterval(() => { if (data.open.length) renderOpen(); }, 1000);
  const poll = setInterval(load, 5000);
  return () => { clearInterval(tick); clearInterval(poll); };
}
