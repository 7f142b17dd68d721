from main import app


def test_process_logs_every_step() -> None:
    out = app.invoke_sync("process", {"steps": 3, "seconds_per_step": 0})
    assert out.status == "succeeded"
    assert out.value["steps"] == 3
    assert out.logs == ("step 1/3 done", "step 2/3 done", "step 3/3 done")


def test_process_bounds_steps() -> None:
    assert app.invoke_sync("process", {"steps": 0}).status == "failed"


def test_process_streams_its_steps_on_a_real_runner(kernel_runner) -> None:
    """Served by `kernel-actions dev` (the kernel_runner fixture): every step is logged."""
    from kernel_actions.testing import assert_succeeded

    inv = kernel_runner.invoke("process", {"steps": 2, "seconds_per_step": 0})
    assert_succeeded(inv)
    assert inv["logs"] == ["step 1/2 done", "step 2/2 done"]
