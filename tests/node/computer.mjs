// Kernel's computer controls through the official @onkernel/sdk, unchanged, against a
// running kernel-actions runner (KERNEL_BASE_URL, KERNEL_API_KEY) and the test page at
// PAGE_URL, which reports what happened in its DOM at PAGE_URL + "latest".
// Prints one JSON line per check; exits 1 on failure.
import assert from "node:assert/strict";
import Kernel from "@onkernel/sdk";

const client = new Kernel({ maxRetries: 0, timeout: 60_000 });
const pageUrl = process.env.PAGE_URL;
const results = [];

async function check(name, fn) {
  try {
    await fn();
    results.push({ name, ok: true });
  } catch (err) {
    results.push({ name, ok: false, error: String((err && err.stack) || err) });
  }
}

async function latest() {
  return (await fetch(new URL("latest", pageUrl))).json();
}

async function until(predicate, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await latest();
    if (state.n && predicate(state)) return state;
    if (Date.now() > deadline) throw new Error(`page never reached: ${what}; last ${JSON.stringify(state)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const browser = await client.browsers.create({ viewport: { width: 1024, height: 768 } });
const id = browser.session_id;
const computer = client.browsers.computer;
let page;

await check("screenshot has the viewport's size", async () => {
  const png = Buffer.from(await (await computer.captureScreenshot(id)).arrayBuffer());
  assert.equal(png.subarray(1, 4).toString(), "PNG");
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [1024, 768]);
  const part = Buffer.from(await (await computer.captureScreenshot(id, {
    region: { x: 10, y: 20, width: 64, height: 32 },
  })).arrayBuffer());
  assert.deepEqual([part.readUInt32BE(16), part.readUInt32BE(20)], [64, 32]);
});

await check("Ctrl+L, the URL and Return navigate", async () => {
  const url = pageUrl + "?from=node";
  await computer.pressKey(id, { keys: ["Ctrl+l"] });
  await computer.typeText(id, { text: url, delay: 0 });
  await computer.pressKey(id, { keys: ["Return"] });
  await until((s) => s.href === url, "navigated");
  // Input reaches a new page once Chromium is ready for it: move until the page feels it.
  for (let x = 600; !(await latest()).moved; x++) {
    await computer.moveMouse(id, { x, y: 700 });
    await new Promise((r) => setTimeout(r, 200));
  }
  page = await latest();
});

await check("a click changes the DOM", async () => {
  await computer.clickMouse(id, { x: 500, y: page.uiTop + 230 });
  await until((s) => s.clicked === "clicked 1", "clicked");
});

await check("typed text lands in the input", async () => {
  await computer.clickMouse(id, { x: 300, y: page.uiTop + 520 });
  await computer.typeText(id, { text: "from node ✓" });
  await until((s) => s.field === "from node ✓", "typed");
});

await check("the clipboard round-trips", async () => {
  await computer.writeClipboard(id, { text: "node clipboard" });
  assert.equal((await computer.readClipboard(id)).text, "node clipboard");
  const pos = await computer.getMousePosition(id);
  assert.deepEqual([pos.x, pos.y], [300, page.uiTop + 520]);
});

await check("a batch stops at the failing step", async () => {
  await computer.pressKey(id, { keys: ["Ctrl+a", "BackSpace"] });
  await until((s) => s.field === "", "cleared");
  let error;
  try {
    await computer.batch(id, { actions: [
      { type: "type_text", type_text: { text: "ok" } },
      { type: "sleep", sleep: { duration_ms: 10 } },
      { type: "press_key", press_key: { keys: ["NotAKey"] } },
      { type: "type_text", type_text: { text: "never" } },
    ] });
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof Kernel.BadRequestError, String(error));
  assert.match(error.error.message, /actions\[2\] \(press_key\)/);
  await until((s) => s.field === "ok", "first steps ran");
  await computer.typeText(id, { text: "!" });
  const state = await until((s) => s.field.endsWith("!"), "typed after");
  assert.equal(state.field, "ok!");
});

await client.browsers.deleteByID(id);
for (const r of results) console.log(JSON.stringify(r));
process.exit(results.every((r) => r.ok) ? 0 : 1);
