"""The pytest plugin, used the way an app's own test suite uses it (pytester runs it)."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

APP = textwrap.dedent('''
    from kernel_actions import App, Context

    app = App("plugged")

    @app.action("greet")
    def greet(ctx: Context, payload: dict) -> dict:
        print("greeting", payload["name"])
        return {"hello": payload["name"]}

    @app.action("boom")
    def boom(ctx: Context) -> None:
        print("about to fail")
        raise ValueError("no luck")
''')


def test_fixtures_run_the_app_in_process_on_a_runner_and_through_the_sdk(
        pytester: pytest.Pytester) -> None:
    pytester.makefile(".py", main=APP)
    pytester.makepyfile(test_app=textwrap.dedent('''
        import json
        from kernel_actions.testing import assert_succeeded

        def test_in_process(kernel_app):
            out = kernel_app.invoke_sync("greet", {"name": "Ada"})
            assert_succeeded(out)
            assert out.value == {"hello": "Ada"}

        def test_on_the_runner(kernel_runner):
            inv = kernel_runner.invoke("greet", {"name": "Bob"})
            assert_succeeded(inv)
            assert json.loads(inv["output"]) == {"hello": "Bob"}
            assert "greeting Bob" in inv["logs"]

        def test_through_the_sdk(kernel_client, kernel_runner):
            inv = kernel_client.invocations.create(
                app_name="plugged", action_name="greet", version="latest",
                payload='{"name": "Cy"}')
            assert inv.status == "succeeded" and json.loads(inv.output) == {"hello": "Cy"}
    '''))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_a_failed_invocation_fails_the_test_with_its_reason_and_logs(
        pytester: pytest.Pytester) -> None:
    pytester.makefile(".py", app_under_test=APP)
    pytester.makeini("[pytest]\nkernel_app = app_under_test.py\n")
    pytester.makepyfile(test_app=textwrap.dedent('''
        from kernel_actions.testing import assert_succeeded

        def test_boom(kernel_runner):
            assert_succeeded(kernel_runner.invoke("boom"))
    '''))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*is 'failed'*",
        "*status_reason: Action raised ValueError: no luck*",
        "*about to fail*",
    ])


def test_a_missing_app_is_a_usage_error_that_names_the_option(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app="def test_x(kernel_runner):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--kernel-app", "nope.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*nope.py does not exist*--kernel-app*"])
