"""A frozen event loop is reported with the code that holds it; Ctrl-C twice still exits."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading

from kernel_actions.runner.watchdog import LoopWatchdog


def test_a_loop_that_stops_turning_is_reported_once_with_the_code_that_holds_it() -> None:
    messages: list[str] = []
    reported = threading.Event()

    def log(message: str) -> None:
        messages.append(message)
        reported.set()

    def hold_the_loop() -> bool:
        # Blocks the loop (the thing under test) until the watchdog has said so.
        return reported.wait(30)

    async def main() -> bool:
        watchdog = LoopWatchdog(asyncio.get_running_loop(), log, lambda: None,
                                frozen_s=0.3, beat_s=0.05)
        watchdog.start()
        try:
            held = hold_the_loop()
            await asyncio.sleep(0.2)  # turning again: no second report for the same freeze
            return held
        finally:
            watchdog.stop()

    assert asyncio.run(main())
    assert len(messages) == 1
    assert "the event loop has not turned for" in messages[0]
    assert "in hold_the_loop" in messages[0] and "test_watchdog.py" in messages[0]


FROZEN_RUNNER = """
import asyncio, os, signal, sys, threading
from kernel_actions.runner.watchdog import LoopWatchdog

def log(message):
    print(message.splitlines()[0], flush=True)

async def main():
    watchdog = LoopWatchdog(asyncio.get_running_loop(), log, lambda: os._exit(130),
                            frozen_s=0.3, beat_s=0.05)
    watchdog.start()
    # As the server does: a Python handler that only notes the signal for the loop.
    signal.signal(signal.SIGINT, lambda *args: print("noted", flush=True))
    signal.signal(signal.SIGTERM, lambda *args: print("noted", flush=True))
    await asyncio.sleep(0.1)
    threading.Event().wait()  # the loop never turns again

asyncio.run(main())
"""


def test_ctrl_c_twice_exits_while_the_loop_is_frozen() -> None:
    proc = subprocess.Popen([sys.executable, "-c", FROZEN_RUNNER], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("the event loop has not turned for"), line
        assert "threading.py" in line and " in wait " in line
        proc.send_signal(signal.SIGINT)
        assert proc.stdout.readline() == "noted\n"  # the first only asks to stop
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
        assert "a second stop signal came: exiting now" in proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()
