"""``/openapi.json`` describes every route the runner serves: each path and method of its
API (the dashboard's pages and the runner's own ``/_runner`` views aside), with the errors
it can answer, so tools that read it (clients, fuzzers) reach all of it."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Route

from kernel_actions import __version__
from kernel_actions.runner.config import Config
from kernel_actions.runner.http.openapi import openapi
from kernel_actions.runner.http.unavailable import unavailable_routes
from kernel_actions.runner.server import Runner

#: Served for people (the dashboard) or by the runner about itself, not the hosted API.
NOT_API = re.compile(r"^/($|_dashboard|_runner|openapi\.json$)")


def served(tmp_path: Path) -> dict[str, set[str]]:
    """The runner's API routes, as the app it serves holds them: path → methods."""
    runner = Runner(Config(data_dir=tmp_path / "data"), out=lambda line: None)
    # The 501s for what only Kernel's cloud has come last, after everything served.
    routes = runner.api().routes[:-len(unavailable_routes())]
    found: dict[str, set[str]] = {}
    for route in routes:
        if not isinstance(route, Route) or NOT_API.match(route.path):
            continue
        found.setdefault(route.path, set()).update(
            m.lower() for m in route.methods or () if m != "HEAD")
    runner.store.close()
    return found


def test_every_served_route_is_in_the_openapi(tmp_path: Path) -> None:
    spec = openapi(__version__)
    routes = served(tmp_path)
    assert "/browsers/{id}/computer/screenshot" in routes  # the routes were found
    missing = sorted(f"{method.upper()} {path}" for path, methods in routes.items()
                     for method in methods if method not in spec["paths"].get(path, {}))
    assert not missing, f"served but not in /openapi.json: {missing}"
    described = sorted(f"{method.upper()} {path}" for path, item in spec["paths"].items()
                       for method in item if method != "parameters"
                       and method not in routes.get(path, set()))
    assert not described, f"in /openapi.json but not served: {described}"


def test_operations_are_unique_and_name_their_path_parameters() -> None:
    spec = openapi(__version__)
    ids = [op["operationId"] for item in spec["paths"].values()
           for method, op in item.items() if method != "parameters"]
    assert len(ids) == len(set(ids))
    for path, item in spec["paths"].items():
        names = {p["name"] for p in item.get("parameters", [])} | {
            p["name"] for method, op in item.items() if method != "parameters"
            for p in op.get("parameters", []) if p["in"] == "path"}
        assert set(re.findall(r"\{(\w+)\}", path)) <= names, path
    computer = spec["paths"]["/browsers/{id}/computer/press_key"]["post"]
    assert "400" in computer["responses"] and "404" in computer["responses"]
