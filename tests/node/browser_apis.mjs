// playwright.execute, its executors and replays through the official @onkernel/sdk, unchanged,
// against a local runner (KERNEL_BASE_URL) and a page served on loopback (PAGE_URL).
// Prints one JSON line per check and a final "N passed, N failed" line; exits 1 on failure.
import assert from "node:assert/strict";
import Kernel from "@onkernel/sdk";

const client = new Kernel({ maxRetries: 0, timeout: 120_000 });
const results = [];

async function check(name, fn) {
  try {
    await fn();
    results.push({ name, ok: true });
  } catch (err) {
    results.push({ name, ok: false, error: String((err && err.stack) || err) });
  }
}

const browser = await client.browsers.create({});
const id = browser.session_id;

await check("execute returns the title and changes the DOM", async () => {
  const title = await client.browsers.playwright.execute(id, {
    code: `await page.goto(${JSON.stringify(process.env.PAGE_URL)}); return await page.title();`,
  });
  assert.equal(title.success, true, title.error);
  assert.equal(title.result, "Local Page");
  const clicked = await client.browsers.playwright.execute(id, {
    code: "await page.click('#go'); return await page.textContent('#greeting');",
    timeout_sec: 30,
  });
  assert.equal(clicked.result, "clicked");
  assert.equal(clicked.tab.target_id, title.tab.target_id);
});

await check("a thrown error is success:false", async () => {
  const reply = await client.browsers.playwright.execute(id, { code: "throw new Error('nope')" });
  assert.equal(reply.success, false);
  assert.equal(reply.error, "nope");
});

await check("named executors are listed and deleted", async () => {
  const reply = await client.browsers.playwright.execute(id, {
    code: "return page.url()", executor: "side",
  });
  assert.equal(reply.success, true, reply.error);
  assert.equal(reply.tab.created, true);
  // This SDK version has no executors resource: its generic client methods reach the routes.
  const { executors } = await client.get(`/browsers/${id}/playwright/executors`);
  assert.deepEqual(executors.map((e) => e.name), ["default", "side"]);
  await client.delete(`/browsers/${id}/playwright/executors/side`);
  const after = await client.get(`/browsers/${id}/playwright/executors`);
  assert.deepEqual(after.executors.map((e) => e.name), ["default"]);
});

await check("a replay records, stops and downloads as an MP4", async () => {
  const replay = await client.browsers.replays.start(id, { framerate: 5 });
  assert.match(replay.replay_id, /^[a-z0-9]{24}$/);
  assert.ok(replay.replay_view_url.endsWith(`/${id}/${replay.replay_id}`));
  const painted = await client.browsers.playwright.execute(id, {
    code: "await page.evaluate(() => document.body.style.background = 'red');" +
      "await new Promise(r => setTimeout(r, 500)); return 1",
  });
  assert.equal(painted.success, true, painted.error);
  await client.browsers.replays.stop(replay.replay_id, { id });
  const listed = await client.browsers.replays.list(id);
  assert.equal(listed.length, 1);
  assert.ok(listed[0].finished_at);
  const response = await client.browsers.replays.download(replay.replay_id, { id });
  const bytes = Buffer.from(await response.arrayBuffer());
  assert.equal(bytes.subarray(4, 8).toString("latin1"), "ftyp");
  assert.ok(bytes.length > 1000, `only ${bytes.length} bytes`);
});

await client.browsers.deleteByID(id);
for (const r of results) console.log(JSON.stringify(r));
const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
