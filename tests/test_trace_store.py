"""The trace store's bounds (:mod:`kernel_actions.runner.engine.traces`): steps and bytes per
invocation, images dropped before steps, long text cut, numbering that survives a restart,
and tracing turned off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel_actions.runner.browsers.traces import tracing_enabled
from kernel_actions.runner.engine import traces as traces_module
from kernel_actions.runner.engine.store import Store
from kernel_actions.runner.engine.traces import MAX_TEXT, Traces, clip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "db.sqlite")
    yield s
    s.close()


def add(traces: Traces, inv: str = "inv", image: bytes | None = None,
        detail: dict | None = None) -> int | None:
    return traces.add(inv, "computer.screenshot", "b1", started_ns=1, duration_ns=2,
                      detail=detail or {"status": 200}, image=image)


def test_steps_past_the_bound_are_counted_not_kept(store: Store,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(traces_module, "MAX_STEPS", 3)
    traces = Traces(store)
    assert [add(traces) for _ in range(5)] == [1, 2, 3, None, None]
    assert [s["step"] for s in traces.steps("inv")] == [1, 2, 3]
    assert [s["step"] for s in traces.steps("inv", after=2)] == [3]
    assert traces.dropped("inv") == 2
    assert add(traces, "other") == 1  # each invocation has its own bounds


def test_a_screenshot_over_the_byte_budget_is_stepped_without_it(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(traces_module, "MAX_TRACE_BYTES", 1000)
    traces = Traces(store)
    assert add(traces, image=b"p" * 600) == 1
    assert add(traces, image=b"q" * 600) == 2
    first, second = traces.steps("inv")
    assert first["has_screenshot"] and not second["has_screenshot"]
    assert "budget" in second["image_dropped"] and second["status"] == 200
    assert traces.screenshot("inv", 1) == b"p" * 600
    assert traces.screenshot("inv", 2) is None and traces.screenshot("inv", 9) is None


def test_long_text_is_cut_and_numbering_survives_a_restart(store: Store) -> None:
    traces = Traces(store)
    add(traces, detail={"args": {"code": "x" * (MAX_TEXT + 50)}, "list": list(range(500))})
    step = traces.steps("inv")[0]
    assert len(step["args"]["code"]) < MAX_TEXT + 30 and step["args"]["code"].endswith("chars)")
    assert len(step["list"]) == 200
    assert clip({"a": ["y" * 10]}, 4) == {"a": ["yyyy… (10 chars)"]}
    again = Traces(store)  # a new runner on the same store
    assert add(again) == 2


def test_tracing_off_records_nothing(store: Store) -> None:
    traces = Traces(store, enabled=False)
    assert add(traces) is None and traces.steps("inv") == []
    assert tracing_enabled({}) and tracing_enabled({"KERNEL_ACTIONS_TRACE": "1"})
    assert not any(tracing_enabled({"KERNEL_ACTIONS_TRACE": v}) for v in ("0", "off", "False"))
