// Drives a running kernel-actions runner with the official @onkernel/sdk, unchanged.
// The client reads KERNEL_BASE_URL and KERNEL_API_KEY from the environment, as users do.
// Prints one JSON line per check and a final "N passed, N failed" line; exits 1 on failure.
import assert from "node:assert/strict";
import Kernel from "@onkernel/sdk";

const client = new Kernel({ maxRetries: 0 });
const results = [];

async function check(name, fn) {
  try {
    await fn();
    results.push({ name, ok: true });
  } catch (err) {
    results.push({ name, ok: false, error: String(err && err.stack || err) });
  }
}

await check("sync create", async () => {
  const inv = await client.invocations.create({
    app_name: "conformance", action_name: "greet", version: "latest",
    payload: JSON.stringify({ name: "Ada" }),
  });
  assert.equal(inv.status, "succeeded");
  assert.deepEqual(JSON.parse(inv.output), { message: "hello Ada" });
  assert.match(inv.id, /^[a-z0-9]{24}$/);
});

await check("async create, follow with logs", async () => {
  const inv = await client.invocations.create({
    app_name: "conformance", action_name: "logs", version: "latest",
    payload: JSON.stringify({ lines: 2 }), async: true,
  });
  assert.equal(inv.status, "queued");
  const stream = await client.invocations.follow(inv.id);
  const logs = [];
  let last;
  for await (const event of stream) {
    if (event.event === "log") logs.push(event.message);
    if (event.event === "invocation_state") last = event.invocation;
  }
  assert.deepEqual(logs, ["print 0", "WARNING conformance: logging 0", "ctx 0",
                          "print 1", "WARNING conformance: logging 1", "ctx 1"]);
  assert.equal(last.status, "succeeded");
  assert.equal(last.output, "2");
});

await check("retrieve", async () => {
  const created = await client.invocations.create({
    app_name: "conformance", action_name: "echo", version: "latest", payload: "[1,2]",
  });
  const inv = await client.invocations.retrieve(created.id);
  assert.equal(inv.app_name, "conformance");
  assert.equal(inv.payload, "[1,2]");
  assert.match(inv.started_at, /\.\d{9}Z$/);
});

await check("list pages", async () => {
  const ids = [];
  for (let i = 0; i < 5; i++) {
    ids.push((await client.invocations.create({
      app_name: "conformance", action_name: "context", version: "latest" })).id);
  }
  const seen = [];
  for await (const inv of client.invocations.list({ action_name: "context", limit: 2 })) {
    seen.push(inv.id);
  }
  assert.deepEqual(seen, ids.reverse());
});

await check("update is final", async () => {
  const inv = await client.invocations.create({
    app_name: "conformance", action_name: "sleep", version: "latest", payload: "5", async: true,
  });
  const out = await client.invocations.update(inv.id, {
    status: "failed", output: JSON.stringify({ error: "Invocation cancelled by user" }),
  });
  assert.equal(out.status, "failed");
  assert.equal(out.status_reason, "Invocation cancelled by user");
  await assert.rejects(client.invocations.update(inv.id, { status: "succeeded" }),
                       (err) => err.status === 409);
});

await check("errors", async () => {
  await assert.rejects(client.invocations.create({
    app_name: "missing", action_name: "x", version: "latest" }), (err) => err.status === 404);
  await assert.rejects(client.invocations.create({
    app_name: "conformance", action_name: "echo", version: "latest", payload: "{bad" }),
    (err) => err.status === 400);
});

await check("apps list", async () => {
  const apps = [];
  for await (const app of client.apps.list()) apps.push(app);
  assert.equal(apps.length, 1);
  assert.equal(apps[0].app_name, "conformance");
  assert.ok(apps[0].actions.some((a) => a.name === "greet" && a.input_schema));
});

for (const r of results) console.log(JSON.stringify(r));
const failed = results.filter((r) => !r.ok).length;
console.log(`node sdk: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
