"""The private names of other packages the runner relies on, checked by name.

``runner/http/connections.py`` and ``direct_cycle.py`` subclass uvicorn's HTTP protocols
and write their status lines with uvicorn's table; ``runner/server.py`` extends
``uvicorn.Server``'s shutdown; ``engine/quick_handlers.py`` uses asyncio's running-loop
hooks. None of these is a public API, so ``pyproject.toml`` pins uvicorn to the range
tested, and a release that renames one of them fails here, once, naming what moved,
instead of as a puzzling failure deep in a connection.
"""

from __future__ import annotations

import importlib
import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

#: (module, class or None, names it must have, who uses them)
PRIVATE: list[tuple[str, str | None, tuple[str, ...], str]] = [
    ("uvicorn.protocols.http.httptools_impl", None, ("STATUS_LINE", "HttpToolsProtocol"),
     "runner/http/direct_cycle.py, connections.py"),
    ("uvicorn.protocols.http.httptools_impl", "HttpToolsProtocol",
     ("data_received", "on_headers_complete", "on_response_complete", "send_400_response",
      "self.parser", "self.url", "self.scope", "self.cycle", "self.expect_100_continue",
      "self.flow", "self.tasks", "self.server_state", "self.loop", "self.transport",
      "self.app"),
     "runner/http/connections.py (_HttpTools), direct_cycle.py (DirectCycle)"),
    ("uvicorn.protocols.http.h11_impl", "H11Protocol",
     ("data_received", "send_400_response", "on_response_complete", "self.conn",
      "self.cycle", "self.transport", "self.loop"),
     "runner/http/connections.py (_H11)"),
    ("uvicorn.protocols.http.httptools_impl", "RequestResponseCycle",
     ("self.body", "self.more_body", "self.message_event", "self.disconnected",
      "self.response_complete", "self.keep_alive"),
     "runner/http/direct_cycle.py (DirectCycle stands in for it)"),
    ("uvicorn.protocols.websockets.wsproto_impl", None, ("WSProtocol",),
     "runner/http/connections.py (LazyWebSocketProtocol)"),
    ("uvicorn.server", "Server",
     ("handle_exit", "shutdown", "self.servers", "self.should_exit", "self.force_exit",
      "self.started"),
     "runner/server.py (_Server)"),
    ("asyncio", None, ("_get_running_loop", "_set_running_loop"),
     "runner/engine/quick_handlers.py (call_outside_loop)"),
]


def _missing(module_name: str, class_name: str | None, names: tuple[str, ...]) -> list[str]:
    module = importlib.import_module(module_name)
    owner = module if class_name is None else getattr(module, class_name, None)
    if owner is None:
        return [f"{module_name}.{class_name}"]
    source = ""
    if class_name is not None:
        source = "".join(inspect.getsource(k) for k in inspect.getmro(owner)
                         if k.__module__.startswith("uvicorn"))
    missing = []
    for name in names:
        if name.startswith("self."):
            found = re.search(rf"\b{re.escape(name)}\b\s*(:[^=\n]*)?=", source)
        else:
            found = hasattr(owner, name)
        if not found:
            where = f"{module_name}.{class_name}" if class_name else module_name
            missing.append(f"{where}.{name.removeprefix('self.')}")
    return missing


@pytest.mark.parametrize(("module", "cls", "names", "used_by"), PRIVATE,
                         ids=[f"{m}.{c or '*'}" for m, c, _, _ in PRIVATE])
def test_the_private_names_we_use_exist(module: str, cls: str | None, names: tuple[str, ...],
                                        used_by: str) -> None:
    try:
        missing = _missing(module, cls, names)
    except ImportError as exc:
        missing = [f"{module} ({exc})"]
    assert not missing, (
        f"uvicorn {version('uvicorn')} no longer has {', '.join(missing)}, which {used_by} "
        "relies on: adapt that code to this release, then move the bound on uvicorn in "
        "pyproject.toml")


def test_the_checker_sees_a_missing_name() -> None:
    """The check above can fail: a name that isn't there is reported."""
    assert _missing("uvicorn.server", "Server", ("self.no_such_attribute", "shutdown")) == [
        "uvicorn.server.Server.no_such_attribute"]
    assert _missing("asyncio", None, ("_no_such_hook",)) == ["asyncio._no_such_hook"]


def test_status_lines_are_what_direct_answers_write() -> None:
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE

    for status in (200, 202, 400, 404, 408, 409, 413, 415, 503):
        assert STATUS_LINE[status].startswith(f"HTTP/1.1 {status} ".encode())
        assert STATUS_LINE[status].endswith(b"\r\n")


def test_uvicorn_is_pinned_to_the_tested_range() -> None:
    """The pin has an upper bound, and what is installed (what the tests ran) is inside it."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(Requirement(d) for d in deps if Requirement(d).name == "uvicorn")
    assert any(s.operator in ("<", "<=", "~=", "==") for s in pin.specifier), (
        f"{pin}: uvicorn's private protocol classes are used, so its range needs an upper bound")
    assert pin.specifier.contains(Version(version("uvicorn"))), (
        f"uvicorn {version('uvicorn')} is installed but pyproject.toml pins {pin}")
