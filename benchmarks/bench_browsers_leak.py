"""Browser churn: N create → replay → execute → screenshot → delete cycles, then what is left.

    python benchmarks/bench_browsers_leak.py [--cycles N]

Starts ``kernel-actions serve``; each cycle creates a browser (from the warm spare when it
is ready), records a short replay (stopped, or left to the deletion on odd cycles), runs
Playwright code in it, takes a computer-controls screenshot and deletes it. Reports the
runner's resident memory after a warm-up and after the N cycles (target: back within
±10%), the runner's thread count, and any Chromium, Node or encoder process still alive
(target: none) besides the one warm spare the runner keeps for the next create (it is
running both times memory is measured, so the comparison is like for like).
Default N = 200.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import httpx
from _common import RunnerProcess, machine


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def spare_folder(root: Path) -> str | None:
    """The runner's warm spare: the one browser folder left once every session is gone."""
    left = list(root.iterdir()) if root.is_dir() else []
    return str(left[0]) + os.sep if len(left) == 1 else None


def leftovers(marker: str, spare: str | None = None) -> list[str]:
    """Live processes of deleted browsers (under ``marker``, not the spare's)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmd and (spare is None or spare not in cmd):
                found.append(cmd[:120])
    return found


def cycle(client: httpx.Client, i: int) -> None:
    browser = client.post("/browsers", json={"viewport": {"width": 320, "height": 240}}).json()
    bid = browser["session_id"]
    replay = client.post(f"/browsers/{bid}/replays", json={"framerate": 5}).json()
    reply = client.post(f"/browsers/{bid}/playwright/execute", json={
        "code": f"await page.setContent('<h1>{i}</h1>'); return await page.textContent('h1')"})
    assert reply.json().get("result") == str(i), reply.text
    shot = client.post(f"/browsers/{bid}/computer/screenshot")
    assert shot.status_code == 200 and shot.content[:4] == b"\x89PNG", shot.text
    if i % 2:
        client.post(f"/browsers/{bid}/replays/{replay['replay_id']}/stop")
    assert client.delete(f"/browsers/{bid}").status_code == 204


def wait_for_spare(client: httpx.Client) -> None:
    deadline = time.monotonic() + 60
    while not client.get("/_runner/status").json()["browsers"]["warm"]["ready"]:
        assert time.monotonic() < deadline, "no warm spare in 60 s"
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="kernel-actions-bench-leak-"))
    server = RunnerProcess(["serve", "--port", "0", "--data-dir", str(data)], cwd=data)
    server.wait_ready()
    server.wait_http("/health")
    marker = str(data / "browsers") + os.sep
    try:
        assert server.url is not None
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for i in range(3):
                cycle(client, i)
            wait_for_spare(client)
            time.sleep(2)
            pid = server.proc.pid
            before, threads_before = rss_mb(pid), threads(pid)
            started = time.perf_counter()
            for i in range(args.cycles):
                try:
                    cycle(client, i)
                except Exception:
                    print(f"cycle {i} failed; the runner's last lines:\n"
                          + "\n".join(server.lines[-40:]))
                    raise
            elapsed = time.perf_counter() - started
            wait_for_spare(client)
            root = data / "browsers"
            deadline = time.monotonic() + 30
            while leftovers(marker, spare_folder(root)) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2)
            after, threads_after = rss_mb(pid), threads(pid)
            served = client.get("/_runner/status").json()["browsers"]["warm"]["served"]
            spare = spare_folder(root)
        left = leftovers(marker, spare)
        change = (after - before) / before * 100
        print(f"machine: {machine()}; {args.cycles} cycles in {elapsed:.0f} s "
              f"({elapsed / args.cycles:.1f} s each)")
        print(f"runner RSS after warm-up {before:.1f} MB, after the cycles {after:.1f} MB "
              f"({change:+.1f}%; target within ±10%: {'met' if abs(change) <= 10 else 'missed'})")
        print(f"runner threads {threads_before} -> {threads_after}")
        print(f"creates served by the warm spare: {served} of {args.cycles + 3}; "
              f"browser folders left: {len(list(root.iterdir()))} (the spare: "
              f"{'yes' if spare else 'no'})")
        print(f"Chromium / Node / encoder processes left besides the spare's: {len(left)}"
              + "".join(f"\n  {c}" for c in left))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
