// {{app_name}}: a Kernel app in TypeScript. Its actions are registered with @onkernel/sdk and
// run unchanged on Kernel or on `kernel-actions dev index.ts` (Node's type stripping runs this
// file as it is: keep to TypeScript whose types can simply be erased, with `import type`).
import { Kernel, type KernelContext } from "@onkernel/sdk";
import { chromium } from "playwright-core";

const kernel = new Kernel(); // KERNEL_API_KEY and KERNEL_BASE_URL come from the platform
const app = kernel.app("{{app_name}}");

interface GreetInput {
  name?: string;
}

// kernel-actions invoke {{app_name}} greet -p '{"name": "Ada"}'
app.action("greet", async (ctx: KernelContext, payload?: GreetInput) => {
  const name = payload?.name?.trim() || "world";
  console.log(`greeting ${name} (invocation ${ctx.invocation_id})`);
  return { message: `Hello, ${name}!` };
});

interface TitleInput {
  url: string;
}

interface TitleOutput {
  url: string;
  title: string;
}

// kernel-actions invoke {{app_name}} page-title -p '{"url": "https://example.com"}'
app.action("page-title", async (ctx: KernelContext, payload?: TitleInput): Promise<TitleOutput> => {
  if (!payload?.url) throw new Error("payload.url is required, e.g. {\"url\": \"https://example.com\"}");
  const url = /^https?:\/\//.test(payload.url) ? payload.url : `https://${payload.url}`;
  // A browser tied to this invocation: Kernel deletes it when the invocation ends.
  const session = await kernel.browsers.create({ invocation_id: ctx.invocation_id });
  console.log(`live view: ${session.browser_live_view_url}`);
  const browser = await chromium.connectOverCDP(session.cdp_ws_url);
  try {
    const context = browser.contexts()[0] ?? (await browser.newContext());
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(url);
    return { url: page.url(), title: await page.title() };
  } finally {
    await browser.close();
    await kernel.browsers.deleteByID(session.session_id);
  }
});
