"""Save-to-new-code latency: ``kernel-actions dev`` against ``uvicorn --reload``, same run.

    python benchmarks/bench_reload.py [--saves N]

For each server, the script rewrites the app file with a new version string and
polls until an answer carries it; the time from the write to that answer is one
sample. Then the same with a 5-second request/action in flight: uvicorn waits
for it before new code serves; the runner serves new code at once and lets the
in-flight action finish on the old generation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from _common import RawClient, ServerProcess, machine, median, runner, uvicorn

RUNNER_APP = '''
import asyncio
from kernel_actions import App
app = App("reload-bench")
VERSION = {version!r}

@app.action("version")
def version(ctx):
    return VERSION

@app.action("slow")
async def slow(ctx):
    await asyncio.sleep(5)
    return VERSION
'''

UVICORN_APP = '''
import asyncio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
VERSION = {version!r}

async def version(request):
    return PlainTextResponse(VERSION)

async def slow(request):
    await asyncio.sleep(5)
    return PlainTextResponse(VERSION)

app = Starlette(routes=[Route("/", version), Route("/slow", slow)])
'''

INVOKE = json.dumps({"app_name": "reload-bench", "action_name": "version"}).encode()


async def runner_version(client: RawClient) -> str:
    status, body = await client.request("POST", "/invocations", INVOKE)
    return json.loads(json.loads(body)["output"]) if status == 200 else ""


async def uvicorn_version(url: str) -> str:
    client = RawClient(url)
    try:
        status, body = await client.request("GET", "/")
        return body.decode() if status == 200 else ""
    except (ConnectionError, OSError, IndexError, ValueError, asyncio.IncompleteReadError):
        return ""  # restarting: not serving yet
    finally:
        await client.close()


async def time_to_new_code(write: callable, fetch: callable, version: str,  # type: ignore[valid-type]
                           timeout: float = 30) -> float:
    write(version)
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if await fetch() == version:
            return (time.perf_counter() - started) * 1000
        await asyncio.sleep(0.002)
    raise RuntimeError(f"new code ({version}) never served")


async def bench_runner(folder: Path, saves: int) -> tuple[list[float], float, str]:
    entry = folder / "main.py"

    def write(version: str) -> None:
        entry.write_text(RUNNER_APP.format(version=version))

    write("v0")
    server = runner(entry, "--reload")
    client = RawClient(server.url or "")
    try:
        samples = []
        for i in range(1, saves + 1):
            await asyncio.sleep(0.3)  # let the previous generation settle, as between saves
            samples.append(await time_to_new_code(write, lambda: runner_version(client),
                                                  f"v{i}"))
        # With a 5-second action in flight.
        await asyncio.sleep(0.3)
        side = RawClient(server.url or "")
        status, body = await side.request("POST", "/invocations", json.dumps(
            {"app_name": "reload-bench", "action_name": "slow", "async": True}).encode())
        slow_id = json.loads(body)["id"]
        await asyncio.sleep(0.2)
        in_flight = await time_to_new_code(write, lambda: runner_version(client), "after-slow")
        while True:
            status, body = await side.request("GET", f"/invocations/{slow_id}")
            inv = json.loads(body)
            if inv["status"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.05)
        await side.close()
        result = f"{inv['status']} with {inv['output']}"
    finally:
        await client.close()
        server.close()
    return samples, in_flight, result


async def bench_uvicorn(folder: Path, saves: int) -> tuple[list[float], float]:
    entry = folder / "app.py"

    def write(version: str) -> None:
        entry.write_text(UVICORN_APP.format(version=version))

    write("v0")
    server: ServerProcess = uvicorn("app:app", folder, "--reload", "--reload-dir", str(folder))
    server.wait_http("/")
    url = server.url or ""
    try:
        samples = []
        for i in range(1, saves + 1):
            await asyncio.sleep(0.3)
            samples.append(await time_to_new_code(write, lambda: uvicorn_version(url), f"v{i}"))
        await asyncio.sleep(0.3)
        slow = RawClient(url)
        pending = asyncio.ensure_future(slow.request("GET", "/slow"))
        await asyncio.sleep(0.2)
        in_flight = await time_to_new_code(write, lambda: uvicorn_version(url), "after-slow")
        await pending
        await slow.close()
    finally:
        server.close()
    return samples, in_flight


async def main(saves: int) -> None:
    print(f"machine: {machine()}; {saves} saves each")
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        uv_samples, uv_in_flight = await bench_uvicorn(Path(a), saves)
        ka_samples, ka_in_flight, slow_result = await bench_runner(Path(b), saves)
    uv, ka = median(uv_samples), median(ka_samples)
    print()
    print(f"{'measure':<46}{'uvicorn --reload':>18}{'kernel-actions':>16}{'ratio':>8}")
    print(f"{'save to new code, median (ms)':<46}{uv:>18.0f}{ka:>16.0f}{ka / uv:>7.2f}x")
    print(f"{'save to new code, min..max (ms)':<46}"
          f"{f'{min(uv_samples):.0f}..{max(uv_samples):.0f}':>18}"
          f"{f'{min(ka_samples):.0f}..{max(ka_samples):.0f}':>16}")
    print(f"{'same, with a 5 s action in flight (ms)':<46}{uv_in_flight:>18.0f}"
          f"{ka_in_flight:>16.0f}{ka_in_flight / uv_in_flight:>7.2f}x")
    print(f"in-flight action on the runner: {slow_result}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=7)
    asyncio.run(main(parser.parse_args().saves))
