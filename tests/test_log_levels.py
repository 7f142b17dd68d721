"""Invocation logs keep the app's own INFO lines and drop libraries' INFO chatter."""

from __future__ import annotations

import logging

import httpx
import pytest

from kernel_actions import App
from kernel_actions.log_levels import LOG_LEVEL_ENV, LogLevels, is_library_file, parse_level

from .conftest import RunnerProcess

app = App("chatty")
log = logging.getLogger("chatty")


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


@app.action("talk")
def talk(ctx) -> int:
    log.info("mine at info")
    log.debug("mine at debug")
    # httpx logs every request at INFO from its own (installed) code.
    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        return client.get("http://example.invalid/").status_code


def test_the_apps_info_is_kept_and_a_librarys_info_dropped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LOG_LEVEL_ENV, raising=False)
    out = app.invoke_sync("talk")
    assert out.status == "succeeded"
    assert out.logs == ("INFO chatty: mine at info",)


@pytest.mark.parametrize(("level", "expected"), [
    ("info", ["INFO chatty: mine at info", "INFO httpx: HTTP Request: GET"]),
    ("debug", ["INFO chatty: mine at info", "DEBUG chatty: mine at debug",
               "INFO httpx: HTTP Request: GET"]),
])
def test_asking_for_a_level_shows_libraries_too(monkeypatch: pytest.MonkeyPatch, level: str,
                                                expected: list[str]) -> None:
    monkeypatch.setenv(LOG_LEVEL_ENV, level)
    out = app.invoke_sync("talk")
    kept = [line for line in out.logs if not line.startswith("DEBUG http")]
    assert [line[:len(e)] for line, e in zip(kept, expected, strict=True)] == expected


def test_a_librarys_warning_is_kept() -> None:
    levels = LogLevels()
    record = logging.makeLogRecord({"levelno": logging.WARNING, "pathname": httpx.__file__})
    assert levels.keeps(record)
    record.levelno = logging.INFO
    assert not levels.keeps(record)
    record.pathname = __file__
    assert levels.keeps(record)
    assert is_library_file(logging.__file__) and is_library_file(httpx.__file__)
    assert not is_library_file(__file__)
    with pytest.raises(ValueError, match="choose one of debug, info, warning"):
        parse_level("loud")


SDK_APP = '''
import logging
from kernel import Kernel
from kernel_actions import App

app = App("sdk-chatter")

@app.action("list")
def list_apps(ctx) -> int:
    logging.getLogger("sdk-chatter").info("asking for the apps")
    return len(Kernel().apps.list().items)  # KERNEL_BASE_URL is the runner
'''


@pytest.mark.parametrize("level", [None, "info"])
def test_invocation_logs_through_the_runner(start_runner, tmp_path, level: str | None) -> None:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "main.py").write_text(SDK_APP)
    extra = ["--log-level", level] if level else []
    runner: RunnerProcess = start_runner(folder / "main.py", *extra, cwd=folder)
    with runner.client() as c:
        inv = c.post("/invocations", json={"app_name": "sdk-chatter", "action_name": "list"})
        assert inv.json()["status"] == "succeeded", inv.text
        with c.stream("GET", f"/invocations/{inv.json()['id']}/events") as r:
            lines = [ln for ln in r.iter_lines() if '"event":"log"' in ln]
    assert any("INFO sdk-chatter: asking for the apps" in ln for ln in lines)
    chatter = [ln for ln in lines if "HTTP Request:" in ln]
    assert bool(chatter) == (level == "info"), lines
