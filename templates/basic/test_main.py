from main import app


def test_greet() -> None:
    out = app.invoke_sync("greet", {"name": "Ada", "excited": True})
    assert out.status == "succeeded"
    assert out.value == {"message": "Hello, Ada!"}
    assert out.logs == ("greeting Ada",)


def test_greet_rejects_an_empty_name() -> None:
    out = app.invoke_sync("greet", {"name": ""})
    assert out.status == "failed"
    assert out.status_reason.startswith("Payload validation failed")


def test_health() -> None:
    assert app.invoke_sync("health").value["status"] == "ok"


def test_greet_on_a_real_runner(kernel_runner) -> None:
    """The same action served by `kernel-actions dev` (the kernel_runner fixture)."""
    from kernel_actions.testing import assert_succeeded

    inv = kernel_runner.invoke("greet", {"name": "Ada"})
    assert_succeeded(inv)
    assert "greeting Ada" in inv["logs"]
