// A browser's file system, profiles and the cloud-only 501s through the official
// @onkernel/sdk, unchanged. Reads KERNEL_BASE_URL and KERNEL_API_KEY from the environment.
// Prints one JSON line per check; exits 1 on failure.
import assert from "node:assert/strict";
import Kernel, { toFile } from "@onkernel/sdk";

const client = new Kernel({ maxRetries: 2 });
const results = [];

async function check(name, fn) {
  try {
    await fn();
    results.push({ name, ok: true });
  } catch (err) {
    results.push({ name, ok: false, error: String((err && err.stack) || err) });
  }
}

const browser = await client.browsers.create({ timeout_seconds: 60 });
const id = browser.session_id;

await check("fs write, read, info, list", async () => {
  await client.browsers.fs.createDirectory(id, { path: "/work" });
  await client.browsers.fs.writeFile(id, "hello from node", { path: "/work/a.txt" });
  const read = await client.browsers.fs.readFile(id, { path: "/work/a.txt" });
  assert.equal(await read.text(), "hello from node");
  const info = await client.browsers.fs.fileInfo(id, { path: "/work/a.txt" });
  assert.equal(info.size_bytes, 15);
  assert.equal(info.is_dir, false);
  const listed = await client.browsers.fs.listFiles(id, { path: "/work" });
  assert.deepEqual(listed.map((f) => f.path), ["/work/a.txt"]);
});

await check("fs upload, move, delete", async () => {
  await client.browsers.fs.upload(id, {
    files: [{ dest_path: "/up/b.txt", file: await toFile(Buffer.from("bee"), "b.txt") }],
  });
  await client.browsers.fs.move(id, { src_path: "/up/b.txt", dest_path: "/up/c.txt" });
  const read = await client.browsers.fs.readFile(id, { path: "/up/c.txt" });
  assert.equal(await read.text(), "bee");
  await client.browsers.fs.deleteFile(id, { path: "/up/c.txt" });
  await assert.rejects(client.browsers.fs.fileInfo(id, { path: "/up/c.txt" }),
    (err) => err.status === 404);
});

await check("fs refuses what escapes", async () => {
  await client.browsers.fs.writeFile(id, "dots", { path: "/../../escaped.txt" });
  const listed = await client.browsers.fs.listFiles(id, { path: "/" });
  assert.ok(listed.some((f) => f.path === "/escaped.txt"));
  await assert.rejects(client.browsers.fs.writeFile(id, "x", { path: "relative.txt" }),
    (err) => err.status === 400);
});

await check("profiles", async () => {
  const profile = await client.profiles.create({ name: "node-profile" });
  assert.equal((await client.profiles.retrieve("node-profile")).id, profile.id);
  await client.profiles.delete(profile.id);
});

await check("cloud-only resources answer 501 without retries", async () => {
  // (Proxies, extensions and credentials are served now: test_proxies, test_extensions and
  // test_credentials cover them.)
  for (const call of [() => client.apiKeys.list(), () => client.projects.list(),
                      () => client.credentialProviders.list()]) {
    await assert.rejects(call(), (err) => {
      assert.equal(err.status, 501);
      assert.equal(err.error.code, "not_available_locally");
      assert.equal(err.headers.get("x-should-retry"), "false");
      return true;
    });
  }
});

await client.browsers.deleteByID(id);
for (const r of results) console.log(JSON.stringify(r));
const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
