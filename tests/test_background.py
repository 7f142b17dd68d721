"""Background tasks stay alive while they wait on something only they reference."""

from __future__ import annotations

import asyncio
import gc
import weakref

from kernel_actions.runner.engine import background


async def _waits_forever() -> None:
    await asyncio.get_running_loop().create_future()  # referenced by this task alone


def test_a_bare_task_can_be_collected_mid_await() -> None:
    """The hazard itself: the loop holds tasks weakly (why ``background`` exists)."""

    async def main() -> bool:
        ref = weakref.ref(asyncio.get_running_loop().create_task(_waits_forever()))
        await asyncio.sleep(0)
        gc.collect()
        return ref() is None

    assert asyncio.run(main()) is True


def test_started_task_survives_collection_and_is_released_when_done() -> None:
    async def main() -> tuple[bool, bool]:
        task = background.start(_waits_forever(), name="waits")
        ref = weakref.ref(task)
        del task
        await asyncio.sleep(0)
        gc.collect()
        alive = ref() is not None
        ref().cancel()  # type: ignore[union-attr]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        gc.collect()
        return alive, ref() is None

    assert asyncio.run(main()) == (True, True)
