"""Bundle intake: an upload is judged off the event loop, before anything of it is kept."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import pytest

from kernel_actions.runner.config import Config
from kernel_actions.runner.deployments.intake import app_names_in_source
from kernel_actions.runner.deployments.service import Deployments
from kernel_actions.runner.engine.errors import Invalid
from kernel_actions.runner.engine.events import EventBus
from kernel_actions.runner.engine.pool import CodePool
from kernel_actions.runner.engine.scheduler import Scheduler
from kernel_actions.runner.engine.store import Store
from kernel_actions.runner.errors import ApiError, api_error


def _no_pool(*args: object, **kwargs: object) -> CodePool:
    raise AssertionError("no code may be loaded for a refused bundle")


def test_a_zip_of_100000_entries_is_read_off_the_event_loop(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("main.py", "from kernel_actions import App\napp = App('many')\n")
        for i in range(100_000):
            z.writestr(f"f/{i}", b"")
    data = buf.getvalue()

    async def main() -> None:
        store = Store.open(tmp_path / "runner.db")
        store.start(asyncio.get_running_loop())
        bus = EventBus()
        deployments = Deployments(
            scheduler=Scheduler(store, bus), store=store, bus=bus,
            config=Config(data_dir=tmp_path / "data"), make_pool=_no_pool,
            log=lambda message: None)
        ticks = 0
        done = False

        async def tick() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.ensure_future(tick())
        try:
            with pytest.raises(ApiError) as refused:
                await deployments.create(data, "main.py", "v1", {}, False)
        finally:
            done = True
            await ticker
        assert refused.value.status == 400
        assert "100001 files: more than the limit of 10000" in refused.value.message
        # The loop kept turning while the archive was read (it was read in a thread).
        assert ticks >= 100
        assert deployments.items == {}
        store.close()

    asyncio.run(main())


def test_app_names_are_read_from_the_source_without_running_it() -> None:
    source = (
        "import kernel\nfrom kernel_actions import App\n"
        "raise SystemExit('never run')\n"
        "a = App('first')\nb = kernel.App(name='second')\nc = App(dynamic_name)\n"
    )
    assert app_names_in_source(source) == ["first", "second"]
    assert app_names_in_source("def broken(:") == []


def test_deployment_text_fields_must_be_valid_unicode(tmp_path: Path) -> None:
    async def main() -> None:
        store = Store.open(tmp_path / "runner.db")
        store.start(asyncio.get_running_loop())
        bus = EventBus()
        deployments = Deployments(
            scheduler=Scheduler(store, bus), store=store, bus=bus,
            config=Config(data_dir=tmp_path / "data"), make_pool=_no_pool,
            log=lambda message: None)
        for version, env in (("v\udfff", {}), ("v", {"KEY\ud800": "x"}), ("v", {"K": "\udc00"})):
            with pytest.raises(Invalid) as refused:
                await deployments.create(b"not read", None, version, env, False)
            assert api_error(refused.value).status == 400
            assert "lone surrogate" in refused.value.message
            refused.value.message.encode()  # printable: it does not echo the bad text
        assert deployments.items == {}
        store.close()

    asyncio.run(main())
