"""Browser pools through the official Python SDK: warm browsers kept up to the pool's
size, acquired, released and flushed, on real Chromium."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kernel import BadRequestError, ConflictError, Kernel, NotFoundError
from websockets.sync.client import connect

from .conftest import BROWSER_MARKS, RunnerProcess, poll

pytestmark = BROWSER_MARKS


def test_a_pool_keeps_warm_browsers_and_hands_them_out(
        start_runner: Callable[..., RunnerProcess]) -> None:
    runner = start_runner(None, command="serve")
    k = Kernel(base_url=runner.url, api_key="local", max_retries=0)
    pool = k.browser_pools.create(size=2, name="warm", timeout_seconds=3,
                                  viewport={"width": 800, "height": 600})
    assert pool.browser_pool_config.size == 2 and pool.name == "warm"
    poll(lambda: k.browser_pools.retrieve("warm").available_count == 2, timeout=60)
    # Warm browsers outlive standby (5 s) and their timeout (3 s) while in the pool.
    warm = {b.session_id for b in k.browsers.list()}
    assert len(warm) == 2
    until = time.monotonic() + 9
    while time.monotonic() < until:
        assert {b.session_id for b in k.browsers.list()} == warm
    assert "in standby" not in runner.output
    leased = k.browser_pools.acquire("warm", name="lease", tags={"job": "1"})
    assert leased is not None and leased.session_id in warm
    assert leased.name == "lease" and leased.tags == {"job": "1"}
    assert leased.viewport is not None and leased.viewport.width == 800
    # Acquired, its idle timeout applies: held by a connection, it stays.
    with connect(leased.cdp_ws_url, open_timeout=20) as ws:
        ws.send('{"id": 1, "method": "Browser.getVersion"}')
        assert '"id":1' in ws.recv(timeout=20)
        # The pool refills behind the lease.
        poll(lambda: (lambda p: (p.available_count, p.acquired_count) == (2, 1))(
            k.browser_pools.retrieve(pool.id)), timeout=60)
        with pytest.raises(ConflictError):
            k.browser_pools.delete(pool.id)  # a browser is out
        k.browser_pools.release("warm", session_id=leased.session_id)
    assert k.browser_pools.retrieve(pool.id).acquired_count == 0
    with pytest.raises(NotFoundError):
        k.browser_pools.release("warm", session_id=leased.session_id)

    before = {b.session_id for b in k.browsers.list()}
    k.browser_pools.flush(pool.id)
    poll(lambda: k.browser_pools.retrieve(pool.id).available_count == 2, timeout=60)
    assert not before & {b.session_id for b in k.browsers.list()}

    # An acquired browser that its user deletes leaves the pool, which refills.
    taken = k.browser_pools.acquire(pool.id)
    assert taken is not None
    k.browsers.delete_by_id(taken.session_id)
    poll(lambda: (lambda p: (p.available_count, p.acquired_count) == (2, 0))(
        k.browser_pools.retrieve(pool.id)), timeout=60)

    empty = k.browser_pools.create(size=0)
    assert k.browser_pools.acquire(empty.id, acquire_timeout_seconds=1) is None
    with pytest.raises(BadRequestError):
        k.browser_pools.create(size=-1)
    with pytest.raises(ConflictError):
        k.browser_pools.create(size=1, name="warm")
    assert {p.id for p in k.browser_pools.list()} == {pool.id, empty.id}
    k.browser_pools.delete(pool.id, force=True)
    poll(lambda: k.browsers.list().items == [], timeout=30)
    with pytest.raises(NotFoundError):
        k.browser_pools.retrieve(pool.id)


def test_a_pool_keeps_filling_after_an_unexpected_error() -> None:
    """A failure the pool doesn't expect (not an API or DevTools error) is logged and
    retried: the filler must not die silently and leave the pool empty for good."""
    import asyncio
    from types import SimpleNamespace
    from typing import Any

    from kernel_actions.runner.browsers.pools import Pools

    class FakeKeeper:
        closed = False

    class FakeBrowsers:
        def __init__(self) -> None:
            self.items: dict[str, Any] = {}
            self.logged: list[str] = []
            self.calls = 0

        def log(self, line: str) -> None:
            self.logged.append(line)

        async def create(self, body: dict[str, Any], *, warm: bool) -> Any:
            self.calls += 1
            if self.calls == 1:
                raise OSError("Too many open files")
            browser = SimpleNamespace(id=f"b{self.calls}", cdp=SimpleNamespace(
                attach=lambda *a, **k: asyncio.sleep(0, FakeKeeper())))
            self.items[browser.id] = browser
            return browser

    async def main() -> tuple[int, list[str]]:
        browsers = FakeBrowsers()
        pools = Pools(browsers)  # type: ignore[arg-type]
        pool = pools.open({"size": 1})
        deadline = asyncio.get_running_loop().time() + 30
        while not pool.available:
            assert asyncio.get_running_loop().time() < deadline, browsers.logged
            await asyncio.sleep(0.01)
        pools.close_all()
        return len(pool.available), browsers.logged

    available, logged = asyncio.run(main())
    assert available == 1
    assert len(logged) == 1 and logged[0].endswith(": OSError: Too many open files")
