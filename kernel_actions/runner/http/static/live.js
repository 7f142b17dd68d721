// The live view of one local browser: its screen, refreshed as fast as the runner captures
// it, and, once "Take over" is ticked, the person's mouse and keyboard sent through the
// browser's computer controls (the same /browsers/{id}/computer/* API apps use).
"use strict";

const browserId = decodeURIComponent(location.hash.slice(1));
const params = new URLSearchParams(location.search);
const key = params.get("key") || sessionStorage.getItem("kernel-actions-key") || "";
if (params.has("key")) {
  sessionStorage.setItem("kernel-actions-key", key);
  history.replaceState(null, "", location.pathname + location.hash); // keep the key out of history
}
const canvas = document.getElementById("screen");
const ctx = canvas.getContext("2d");
const stateEl = document.getElementById("live-state");
const errorEl = document.getElementById("live-error");
const takeOver = document.getElementById("take-over");
document.getElementById("live-title").textContent = `browser ${browserId}`;

function headers() {
  const out = { "Content-Type": "application/json" };
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

async function computer(action, body) {
  const resp = await fetch(`/browsers/${encodeURIComponent(browserId)}/computer/${action}`, {
    method: "POST", headers: headers(), body: JSON.stringify(body || {}),
  });
  if (!resp.ok) {
    let message = resp.statusText;
    try { message = (await resp.json()).message || message; } catch { /* not JSON */ }
    const err = new Error(message);
    err.status = resp.status;
    throw err;
  }
  return resp;
}

// What went wrong last: with the screen (cleared by the next frame) or with input (kept).
const errors = { screen: "", input: "" };
function showError(message, kind = "screen") {
  errors[kind] = message;
  const text = [errors.screen, errors.input].filter(Boolean).join("; ");
  errorEl.textContent = text;
  errorEl.hidden = !text;
}

// -- the screen ----------------------------------------------------------------------------

let frames = 0;
async function refresh() {
  for (;;) {
    try {
      const resp = await computer("screenshot");
      const bitmap = await createImageBitmap(await resp.blob());
      if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
        canvas.width = bitmap.width;
        canvas.height = bitmap.height;
      }
      ctx.drawImage(bitmap, 0, 0);
      bitmap.close();
      frames += 1;
      stateEl.textContent = "live";
      stateEl.dataset.state = "live";
      showError("");
    } catch (err) {
      stateEl.textContent = err.status === 404 ? "closed" : "error";
      stateEl.dataset.state = "down";
      showError(err.status === 404 ? `browser ${browserId} is gone` : err.message);
      if (err.status === 404) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (document.hidden) await new Promise((r) => setTimeout(r, 500));
  }
}

// -- taking over -----------------------------------------------------------------------------

function point(event) {
  const box = canvas.getBoundingClientRect();
  const x = Math.round((event.clientX - box.left) * canvas.width / box.width);
  const y = Math.round((event.clientY - box.top) * canvas.height / box.height);
  return { x: Math.max(0, Math.min(canvas.width - 1, x)), y: Math.max(0, Math.min(canvas.height - 1, y)) };
}

const BUTTONS = ["left", "middle", "right", "back", "forward"];
// Input goes out one request at a time, in order.
let queue = Promise.resolve();
function send(action, body) {
  if (!takeOver.checked) return;
  queue = queue.then(() => computer(action, body))
    .then(() => showError("", "input"), (err) => showError(`${action}: ${err.message}`, "input"));
}

let lastMove = 0;
canvas.addEventListener("mousemove", (e) => {
  const now = performance.now();
  if (!takeOver.checked || now - lastMove < 50) return;
  lastMove = now;
  send("move_mouse", point(e));
});
canvas.addEventListener("mousedown", (e) => {
  canvas.focus();
  e.preventDefault();
  send("click_mouse", { ...point(e), button: BUTTONS[e.button] || "left", click_type: "down" });
});
canvas.addEventListener("mouseup", (e) => {
  e.preventDefault();
  send("click_mouse", { ...point(e), button: BUTTONS[e.button] || "left", click_type: "up" });
});
canvas.addEventListener("contextmenu", (e) => { if (takeOver.checked) e.preventDefault(); });
canvas.addEventListener("wheel", (e) => {
  if (!takeOver.checked) return;
  e.preventDefault();
  const steps = (d) => (d === 0 ? 0 : Math.sign(d) * Math.max(1, Math.round(Math.abs(d) / 100)));
  send("scroll", { ...point(e), delta_x: steps(e.deltaX), delta_y: steps(e.deltaY) });
}, { passive: false });

// Keys by the browser's names, to X11 keysym names (xdotool's).
const KEYS = {
  Enter: "Return", Backspace: "BackSpace", Tab: "Tab", Escape: "Escape", Delete: "Delete",
  ArrowUp: "Up", ArrowDown: "Down", ArrowLeft: "Left", ArrowRight: "Right", Home: "Home",
  End: "End", PageUp: "Page_Up", PageDown: "Page_Down", Insert: "Insert", " ": "space",
  "-": "minus", "+": "plus",
};
canvas.addEventListener("keydown", (e) => {
  if (!takeOver.checked || ["Control", "Shift", "Alt", "Meta"].includes(e.key)) return;
  e.preventDefault();
  const chord = e.ctrlKey || e.altKey || e.metaKey;
  if (!chord && e.key.length === 1) {
    send("type", { text: e.key, delay: 0 });
    return;
  }
  let name = KEYS[e.key] || (/^F\d{1,2}$/.test(e.key) ? e.key : e.key.length === 1 ? e.key.toLowerCase() : null);
  if (!name) return;
  const mods = [e.ctrlKey && "ctrl", e.altKey && "alt", e.shiftKey && e.key.length !== 1 && "shift", e.metaKey && "super"].filter(Boolean);
  send("press_key", { keys: [[...mods, name].join("+")] });
});
canvas.addEventListener("paste", (e) => {
  if (!takeOver.checked) return;
  e.preventDefault();
  send("type", { text: e.clipboardData.getData("text"), delay: 0 });
});
takeOver.addEventListener("change", () => { if (takeOver.checked) canvas.focus(); });
canvas.classList.toggle("taking-over", takeOver.checked);
takeOver.addEventListener("change", () => canvas.classList.toggle("taking-over", takeOver.checked));

if (!browserId) showError("no browser: open this page as live.html#<browser id>");
else refresh();
