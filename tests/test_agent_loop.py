"""An agent loop as Kernel's computer-use templates run one, on a real runner with real
Chromium on Xvfb (issue 23, "What it must show"): two browsers each recording a replay, 60
steps each of screenshot / move / click / type / key / scroll / batch through the official
SDK, ``playwright.execute`` between them, a third browser created mid-way (it takes the
warm spare, so the next spare launches while both record), the replays stopped and
downloaded as videos, and ``/health`` answered within 1 s throughout.

The runner used to freeze for good here: starting a process (an input tool, a Chromium, a
Node executor) forked a runner whose replay encoders held FFmpeg's locks.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import av
import pytest
from kernel import Kernel

from kernel_actions.runner.browsers.display import display_support

from .agent_loop import HEIGHT, KINDS, VIEWPORT, WIDTH, Agent, HealthWatch
from .computer_page import controls_page
from .conftest import RunnerProcess, poll
from .test_browser_spares import started_line, wait_ready, warm
from .test_browsers import BROWSER_MARKS

pytestmark = [
    *BROWSER_MARKS,
    pytest.mark.skipif(display_support() is not None,
                       reason=f"no virtual display: {display_support()}"),
]

STEPS = 60
#: The step after which the third browser is created.
MIDWAY = 30


def check_video(data: bytes, name: str) -> int:
    """A playable H.264 MP4 of the whole screen that changed while it recorded; its frames."""
    assert data[4:8] == b"ftyp", (name, data[:16])
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264", name
        sizes, looks, frames = set(), set(), 0
        for frame in container.decode(stream):
            frames += 1
            sizes.add((frame.width, frame.height))
            looks.add(hashlib.blake2b(bytes(frame.reformat(format="gray").planes[0])).digest())
    assert frames >= 10, (name, frames)
    assert sizes == {(WIDTH, HEIGHT)}, (name, sizes)
    assert len(looks) > 1, f"{name}: every frame is the same"
    return frames


@pytest.mark.timeout(300)
def test_two_recorded_agents_a_third_browser_midway_and_health_throughout(
        start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, command="serve")
    assert runner.url is not None
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0, timeout=60)
    log: list[str] = []  # what happened, in order
    lock = threading.Lock()

    def note(event: str) -> None:
        with lock:
            log.append(event)

    health = HealthWatch(runner.url, limit=1.0)
    try:
        with ExitStack() as stack:
            stack.enter_context(health)
            pages = [stack.enter_context(controls_page()) for _ in range(3)]
            a = k.browsers.create(viewport=VIEWPORT, timeout_seconds=600).session_id
            b = k.browsers.create(viewport=VIEWPORT, timeout_seconds=600).session_id
            wait_ready(runner)  # the spare of their shape, for the third browser
            agents = [Agent(k, a, pages[0], "A"), Agent(k, b, pages[1], "B")]
            for agent in agents:
                agent.open()
            replays = {agent.name: k.browsers.replays.start(agent.session_id, framerate=10)
                       for agent in agents}
            note("replays started")
            midway = {agent.name: threading.Event() for agent in agents}
            third_created = threading.Event()

            def drive(agent: Agent) -> None:
                def after_step(i: int, kind: str) -> None:
                    note(f"{agent.name} {i} {kind}")
                    if i + 1 == MIDWAY:  # hold here until the third browser exists
                        midway[agent.name].set()
                        assert third_created.wait(120), "the third browser was never created"

                agent.run(STEPS, after_step)
                note(f"{agent.name} done")

            with ThreadPoolExecutor(2) as pool:
                running = [pool.submit(drive, agent) for agent in agents]
                try:
                    for name, reached in midway.items():
                        poll(lambda r=reached, f=running: r.is_set() or any(x.done() for x in f),
                             timeout=120)
                        if not reached.is_set():  # that agent failed: its error, as raised
                            next(x for x in running if x.done()).result()
                            raise AssertionError(f"agent {name} ended before step {MIDWAY}")
                    served_before = warm(runner)["served"]
                    c = k.browsers.create(viewport=VIEWPORT, timeout_seconds=600).session_id
                    note("third browser created")
                finally:
                    third_created.set()
                # It took the spare: the next one launches while both replays record and both
                # agents go on.
                assert started_line(runner, c).endswith("(warm spare)")
                assert warm(runner)["served"] == served_before + 1
                third = Agent(k, c, pages[2], "C")
                third.open()
                third.run(len(KINDS))
                wait_ready(runner)
                note("next spare ready")
                for done in running:
                    done.result(timeout=240)
            finals = {agent.name: agent.check() for agent in agents}
            k.browsers.delete_by_id(c)
            note("third browser deleted")

            # Both still recording: everything above happened during the recordings.
            for agent in agents:
                [listed] = k.browsers.replays.list(agent.session_id)
                assert listed.replay_id == replays[agent.name].replay_id
                assert listed.finished_at is None
            videos: dict[str, bytes] = {}
            for agent in agents:
                k.browsers.replays.stop(replays[agent.name].replay_id, id_or_name=agent.session_id)
                note(f"replay {agent.name} stopped")
                [listed] = k.browsers.replays.list(agent.session_id)
                assert listed.finished_at is not None
                videos[agent.name] = k.browsers.replays.download(
                    replays[agent.name].replay_id, id_or_name=agent.session_id).read()
            for agent in agents:
                k.browsers.delete_by_id(agent.session_id)
            health.stop()
    except BaseException as exc:  # what /health and the steps did until then, with it
        exc.add_note(f"/health failures so far: {health.failures[:10]}; "
                     f"the last events: {log[-8:]}")
        raise

    # What each agent's 60 steps did, as its page's DOM showed it at the end.
    # (Each agent checked its page after every cycle of 7 steps and at the end.)
    for agent in agents:
        assert agent.steps == STEPS
        assert agent.expected.field == "w0w1w2w3w4w5w6w7w8x"  # the last BackSpace is step 60
        assert agent.expected.clicks == 8 and agent.expected.scrolls == 8
        final = finals[agent.name]
        assert final["field"] == agent.expected.field and final["clicks"] == 8, final
        assert final["wheels"] > 0 and final["scrollY"] > 0, (agent.name, final)
    # The order of events: the third browser came mid-way through both agents' steps, the
    # spare after it was ready before the recordings stopped.
    created = log.index("third browser created")
    for name in ("A", "B"):
        steps = [log.index(f"{name} {i} {KINDS[i % len(KINDS)]}") for i in range(STEPS)]
        assert steps == sorted(steps)
        assert steps[MIDWAY - 1] < created < steps[MIDWAY]
        assert log.index("replays started") < steps[0]
        assert steps[-1] < log.index(f"replay {name} stopped")
        assert log.index("next spare ready") < log.index(f"replay {name} stopped")
        assert log.index("third browser deleted") < log.index(f"replay {name} stopped")
    frames = {name: check_video(data, name) for name, data in videos.items()}
    times = sorted(t for agent in agents for t in agent.all_timings())
    print(f"steps p50 {times[len(times) // 2]:.0f} ms, max {times[-1]:.0f} ms; frames {frames}; "
          f"/health asked {len(health.latencies)} times, slowest "
          f"{max(health.latencies):.0f} ms")
    # /health answered within 1 s throughout (asked every 50 ms).
    assert health.failures == [], health.failures
    assert len(health.latencies) >= 20, len(health.latencies)
