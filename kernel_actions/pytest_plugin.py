"""pytest fixtures for Kernel apps, registered when kernel-actions is installed.

- ``kernel_app``: the app under test, loaded in this process; ``kernel_app.invoke_sync(...)``
  runs an action with the runner's validation and error mapping, no server.
- ``kernel_runner``: a real ``kernel-actions dev`` on a free loopback port with its own data
  folder, serving the app under test; one per test module, stopped afterwards.
- ``kernel_client``: the official ``kernel`` SDK client pointed at ``kernel_runner``.

The app under test is ``--kernel-app PATH`` on the command line, else the ``kernel_app`` ini
key, else ``main.py`` in the rootdir. Nothing here imports the runner's server stack: the
runner is a separate process, started only by a test that asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .testing import LocalRunner, assert_failed, assert_succeeded

if TYPE_CHECKING:
    from .app import App

__all__ = ["assert_failed", "assert_succeeded"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kernel-actions")
    group.addoption("--kernel-app", dest="kernel_app", default=None, metavar="PATH",
                    help="the app under test for the kernel_* fixtures (default: main.py)")
    parser.addini("kernel_app", "the app under test for the kernel_* fixtures", default="")


def _entrypoint(config: pytest.Config) -> Path:
    given = config.getoption("kernel_app") or config.getini("kernel_app") or "main.py"
    path = Path(str(given))
    if not path.is_absolute():
        path = Path(config.rootpath) / path
    if not path.exists():
        pytest.fail(
            f"kernel-actions: the app under test {path} does not exist; name it with "
            f"--kernel-app PATH or the 'kernel_app' ini key", pytrace=False)
    return path


@pytest.fixture(scope="session")
def kernel_app_path(pytestconfig: pytest.Config) -> Path:
    """The entrypoint of the app under test."""
    return _entrypoint(pytestconfig)


@pytest.fixture(scope="session")
def kernel_app(kernel_app_path: Path) -> App:
    """The app under test, imported in this process (its only app, or the first)."""
    from .loader import load_apps

    loaded = load_apps(str(kernel_app_path))
    return loaded.apps[0]


@pytest.fixture(scope="module")
def kernel_runner(kernel_app_path: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRunner]:
    """A real runner serving the app under test, for the tests of one module."""
    data_dir = tmp_path_factory.mktemp("kernel-runner")
    runner = LocalRunner(kernel_app_path, data_dir=data_dir)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


@pytest.fixture(scope="module")
def kernel_client(kernel_runner: LocalRunner) -> Any:
    """The official ``kernel`` SDK's client on ``kernel_runner`` (``pip install kernel``)."""
    try:
        from kernel import Kernel
    except ImportError:
        pytest.fail("kernel_client needs the official SDK: pip install kernel", pytrace=False)
    client = Kernel(base_url=kernel_runner.url, api_key="local", max_retries=0)
    try:
        yield client
    finally:
        client.close()
