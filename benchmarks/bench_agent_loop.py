"""An agent loop as Kernel's computer-use templates run one: wall time and per-step latency.

    python benchmarks/bench_agent_loop.py [--browsers 1|2] [--steps N] [--no-replay] [--no-trace]

Starts ``kernel-actions dev`` on the trivial app, invokes it once, and creates one or two
1024×768 browsers for that invocation (``invocation_id``: every call on them is a step of
its trace, unless ``--no-trace`` starts the runner with ``KERNEL_ACTIONS_TRACE=0``) on the
controls page
(``tests/computer_page.py``), starts a replay of each (unless ``--no-replay``), then runs
the loop of ``tests/test_agent_loop.py`` (``tests/agent_loop.py``) in every browser at once,
one thread each, through the official SDK: N steps (default 60) cycling through screenshot,
move, click, type, key, scroll and batch, each action followed by the screenshot a template
takes, with a ``playwright.execute`` check of the page's DOM after every cycle of 7. Prints
the wall time of the loop, the per-step p50/p90 (a step is its action and its screenshot)
over all steps and by kind, the checks' p50/p90, ``/health`` latency asked every 50 ms
meanwhile, and the runner process's CPU time over the loop (steadier than wall time on a
shared machine). Compare runs of two trees on the same machine, interleaved: the figures
move with the machine's load.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
from _common import RunnerProcess, machine, median, pct
from bench_cpu import cpu_seconds

from tests.agent_loop import KINDS, VIEWPORT, Agent, HealthWatch
from tests.computer_page import controls_page
from tests.helpers import sdk_client


def row(name: str, times: list[float]) -> str:
    return f"| {name} | {len(times)} | {median(times):.1f} | {pct(times, 90):.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--browsers", type=int, choices=(1, 2), default=2)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--no-replay", action="store_true", help="record no replays")
    parser.add_argument("--framerate", type=int, default=10, help="of the replays")
    parser.add_argument("--no-trace", action="store_true",
                        help="run the runner with tracing off (KERNEL_ACTIONS_TRACE=0)")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="kernel-actions-bench-agent-"))
    app = Path(__file__).resolve().parent / "apps" / "trivial.py"
    server = RunnerProcess(["dev", str(app), "--no-reload", "--port", "0", "--data-dir",
                            str(data)], cwd=data,
                           env={"KERNEL_ACTIONS_TRACE": "0" if args.no_trace else "1"})
    server.wait_ready()
    server.wait_http("/health")
    try:
        assert server.url is not None
        k = sdk_client(server)
        inv = httpx.post(f"{server.url}/invocations", timeout=60, json={
            "app_name": "bench", "action_name": "add", "payload": '{"a": 1, "b": 2}'}).json()
        with ExitStack() as stack:
            agents: list[Agent] = []
            for n in range(args.browsers):
                page = stack.enter_context(controls_page())
                browser = k.browsers.create(viewport=VIEWPORT, timeout_seconds=600,
                                            invocation_id=inv["id"])
                agents.append(Agent(k, browser.session_id, page, "AB"[n]))
            for agent in agents:
                agent.open()
            replays = [] if args.no_replay else [
                (agent.session_id, k.browsers.replays.start(
                    agent.session_id, framerate=args.framerate).replay_id)
                for agent in agents]
            with HealthWatch(server.url) as health, ThreadPoolExecutor(len(agents)) as pool:
                started, cpu = time.perf_counter(), cpu_seconds(server.proc.pid)
                for done in [pool.submit(agent.run, args.steps) for agent in agents]:
                    done.result()
                wall = time.perf_counter() - started
                cpu = cpu_seconds(server.proc.pid) - cpu
            started = time.perf_counter()
            for session_id, replay_id in replays:
                k.browsers.replays.stop(replay_id, id_or_name=session_id)
                video = k.browsers.replays.download(replay_id, id_or_name=session_id).read()
                assert video[4:8] == b"ftyp", video[:16]
            stopped = time.perf_counter() - started
            for agent in agents:
                k.browsers.delete_by_id(agent.session_id)
        steps = [t for agent in agents for t in agent.all_timings()]
        trace = httpx.get(f"{server.url}/_runner/invocations/{inv['id']}/trace",
                          timeout=60).json()["steps"]
        print(f"machine: {machine()}; {args.browsers} browser(s) × {args.steps} steps, "
              f"replays {'off' if args.no_replay else f'on ({args.framerate} fps)'}, "
              f"tracing {'off' if args.no_trace else 'on'} ({len(trace)} steps traced, "
              f"{sum(1 for s in trace if s['has_screenshot'])} screenshots)")
        print(f"wall time of the loop: {wall:.2f} s ({len(steps) / wall:.1f} steps/s); "
              f"replays stopped and downloaded in {stopped:.2f} s")
        print(f"runner process CPU (its threads: replay encoders included) during the loop: "
              f"{cpu:.2f} s, {cpu / len(steps) * 1000:.1f} ms per step")
        print("| step | n | p50 ms | p90 ms |\n|---|---|---|---|")
        print(row("every step (action + screenshot)", steps))
        for kind in KINDS:
            times = [t for agent in agents for t in agent.timings[kind]]
            if times:
                print(row(kind if kind == "screenshot" else f"{kind} + screenshot", times))
        print(row("`playwright.execute` check between cycles",
                  [t for agent in agents for t in agent.checks]))
        print(row("`GET /health` meanwhile", health.latencies))
        print(f"/health: slowest {max(health.latencies):.0f} ms, "
              f"{len(health.failures)} over 1 s or failed")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
