// A TypeScript app for the runner's tests: Kernel's own SDK, run through Node's type stripping.
import { Kernel, type KernelContext } from "@onkernel/sdk";
import { existsSync } from "node:fs";
import { label } from "./lib/label"; // bundler-style: no extension

const VERSION = "v1";
const kernel = new Kernel();
const app = kernel.app("ts-app");

interface Sum {
  a: number;
  b: number;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

app.action("echo", async (ctx: KernelContext, payload?: { text: string }) => {
  console.log(`echo ${payload?.text}`);
  console.error("to stderr");
  process.stdout.write("partial ");
  process.stdout.write("line\n");
  return { text: payload?.text ?? null, id: ctx.invocation_id, label: label(VERSION) };
});

// A handler that is not async: its value is the output all the same.
app.action("add", ((_ctx: KernelContext, payload?: Sum) => ({ sum: (payload?.a ?? 0) + (payload?.b ?? 0) })) as any);

app.action("nothing", async (_ctx: KernelContext, payload?: unknown) => ({ got: payload ?? "undefined" }));

app.action("boom", async (_ctx: KernelContext) => {
  await pause(1);
  throw new RangeError("out of range: 42");
});

app.action("hang", async (_ctx: KernelContext) => {
  console.log("hanging");
  await new Promise(() => {});
});

// Runs until the file named in the payload exists: an invocation held open by the test.
app.action("wait-for", async (_ctx: KernelContext, payload?: string) => {
  console.log("waiting");
  while (!existsSync(payload as string)) await pause(10);
  return VERSION;
});

app.action("version", async (_ctx: KernelContext) => VERSION);

app.action("crash", async (_ctx: KernelContext) => {
  console.log("crashing");
  process.exit(3);
});

// Two invocations log at once: each keeps its own lines.
app.action("chatty", async (_ctx: KernelContext, payload?: { name: string; n: number }) => {
  for (let i = 0; i < (payload?.n ?? 3); i++) {
    console.log(`${payload?.name} ${i}`);
    await pause(1);
  }
  return payload?.name;
});

app.action("env", async (_ctx: KernelContext) => ({ secret: process.env.MY_SECRET ?? null, relpath: process.env.ENTRYPOINT_RELPATH }));

app.action("not-json", async (_ctx: KernelContext) => BigInt(1));
