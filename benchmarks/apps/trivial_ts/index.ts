// The trivial TypeScript action the benchmarks invoke (the twin of ../trivial.py).
import { Kernel, type KernelContext } from "@onkernel/sdk";

interface Pair {
  a: number;
  b: number;
}

const app = new Kernel().app("bench");

app.action("add", async (_ctx: KernelContext, payload?: Pair) => ({ sum: (payload?.a ?? 0) + (payload?.b ?? 0) }));
