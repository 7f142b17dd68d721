"""Deployments: app versions uploaded as a zip, each served by its own worker pool.

``POST /deployments`` takes the hosted API's multipart upload. The deployment
goes ``queued → in_progress → running | failed``: the bundle is extracted
safely, the dependencies it declares that the runner's environment does not
already satisfy are installed into a shared, content-addressed folder (so a
deploy that adds no dependency installs nothing), and the code is loaded into a
fresh worker pool serving that version. A deployment that fails leaves nothing
behind. Running deployments are started again when the runner restarts.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tomllib
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ...ids import new_id
from ...timeutil import format_ns, now_ns
from ..engine import background
from ..engine.pool import CodePool
from ..errors import bad_request, conflict, not_found
from ..http.common import MAX_OFFSET, guard, int_param, json_response, paged, sse_event

if TYPE_CHECKING:
    from ..server import Runner

__all__ = ["Deployments", "Deployment", "MAX_UPLOAD_BYTES"]

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
TERMINAL = frozenset({"running", "failed", "stopped"})
_OWN_PACKAGES = {"kernel-actions", "kernel_actions"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL
);
"""


@dataclass
class Deployment:
    id: str
    created_ns: int
    version: str
    entrypoint_rel_path: str
    env_vars: dict[str, str]
    force: bool
    source_checksum: str
    status: str = "queued"
    status_reason: str | None = None
    updated_ns: int | None = None
    app_names: list[str] = field(default_factory=list)
    deps_path: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": format_ns(self.created_ns),
            "region": "aws.us-east-1a",
            "status": self.status,
            "entrypoint_rel_path": self.entrypoint_rel_path,
            "env_vars": {k: "" for k in self.env_vars},  # values never leave the runner
            "source_checksum": self.source_checksum,
            "source_type": "file",
            "status_reason": self.status_reason,
            "updated_at": format_ns(self.updated_ns) if self.updated_ns else None,
            "version": self.version,
            "app_names": self.app_names,
        }

    def to_record(self) -> str:
        return json.dumps({k: v for k, v in self.__dict__.items()})


def declared_dependencies(app_dir: Path) -> list[str]:
    """Requirements from ``pyproject.toml`` (``[project].dependencies``) or ``requirements.txt``."""
    pyproject = app_dir / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"pyproject.toml is not valid TOML: {exc}") from None
        deps = data.get("project", {}).get("dependencies", [])
        if isinstance(deps, list):
            return [str(d) for d in deps]
    requirements = app_dir / "requirements.txt"
    if requirements.is_file():
        lines = []
        for line in requirements.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                lines.append(line)
        return lines
    return []


def unsatisfied(requirements: list[str]) -> list[str]:
    """The requirements this environment does not already satisfy."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    missing = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            missing.append(text)
            continue
        if canonicalize_name(req.name) in {canonicalize_name(n) for n in _OWN_PACKAGES}:
            continue  # the runner provides the framework itself
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            missing.append(text)
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            missing.append(text)
    return missing


class Deployments:
    """The runner's deployed versions and the ``/deployments`` endpoints."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        assert runner.config.data_dir is not None
        self.root = runner.config.data_dir / "deployments"
        self.envs = runner.config.data_dir / "envs"
        self.items: dict[str, Deployment] = {}
        self.pools: dict[str, CodePool] = {}
        self._seq = 0
        self._install_lock = asyncio.Lock()
        conn = runner.store.run_in_reader(lambda c: c)
        conn.executescript(_SCHEMA)
        for (body,) in conn.execute("SELECT body FROM deployments ORDER BY seq"):
            dep = Deployment(**json.loads(body))
            self.items[dep.id] = dep
            self._seq += 1

    # -- persistence and events ----------------------------------------------------------

    def _save(self, dep: Deployment) -> None:
        dep.updated_ns = now_ns()
        self._seq += 1
        self.runner.store.execute(
            "INSERT INTO deployments (id, seq, body) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET body=excluded.body", (dep.id, self._seq,
                                                               dep.to_record()))

    def _state(self, dep: Deployment, status: str, reason: str | None = None) -> None:
        dep.status = status
        dep.status_reason = reason
        self._save(dep)
        self.runner.bus.publish(dep.id, {"event": "deployment_state",
                                         "deployment": dep.to_wire(),
                                         "timestamp": format_ns(now_ns())})
        if status in ("running", "failed"):
            self.runner.log(f"deployment {dep.id} ({dep.version}): {status}"
                            + (f": {reason}" if reason else ""))

    def _log(self, dep: Deployment, message: str) -> None:
        ts = now_ns()
        self.runner.store.add_logs([(dep.id, ts, message)])
        self.runner.bus.publish(dep.id, {"event": "log", "message": message,
                                         "timestamp": format_ns(ts)})

    # -- deploying ---------------------------------------------------------------------

    def _conflicts(self, app_names: list[str], version: str, exclude: str | None = None
                   ) -> list[CodePool]:
        return [
            pool for pool, app in self.runner.scheduler.serving()
            if app["name"] in app_names and pool.version == version
            and pool.deployment_id != exclude
        ]

    async def create(self, data: bytes, entrypoint: str | None, version: str,
                     env_vars: dict[str, str], force: bool) -> Deployment:
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise bad_request("'file' is not a zip archive")
        from ...bundle import read_bundle_manifest

        try:
            manifest = read_bundle_manifest(data)
        except Exception:
            manifest = None
        names = [a["name"] for a in (manifest or {}).get("apps", [])]
        if not entrypoint:
            entrypoint = (manifest or {}).get("entrypoint_rel_path") or "main.py"
        if Path(entrypoint).is_absolute() or ".." in Path(entrypoint).parts:
            raise bad_request("'entrypoint_rel_path' must be a path inside the bundle")
        if names and not force:
            taken = self._conflicts(names, version)
            if taken:
                raise conflict(
                    f"app {names[0]!r} already has a version {version!r}: deploy another "
                    f"version, or pass force to replace it")
        dep = Deployment(
            id=new_id(), created_ns=now_ns(), version=version, entrypoint_rel_path=entrypoint,
            env_vars=env_vars, force=force, source_checksum=hashlib.sha256(data).hexdigest(),
            app_names=names,
        )
        self.items[dep.id] = dep
        self._save(dep)
        await self.runner.store.flush()
        background.start(self._deploy(dep, data), name=f"deploy {dep.id}")
        return dep

    async def _deploy(self, dep: Deployment, data: bytes) -> None:
        folder = self.root / dep.id
        try:
            self._state(dep, "in_progress")
            await self._build(dep, data, folder)
            pool = self._pool(dep, folder)
            self._log(dep, "loading the code")
            if not await pool.reload():
                await pool.close()
                raise _Failed(f"the code failed to load: {pool.load_error}")
            names = [a["name"] for a in (pool.manifest or {}).get("apps", [])]
            dep.app_names = names
            taken = self._conflicts(names, dep.version, exclude=dep.id)
            if taken and not dep.force:
                await pool.close()
                raise _Failed(f"app {names[0]!r} already has a version {dep.version!r}; "
                              "pass force to replace it")
            for old in taken:
                await self._retire(old)
            self.pools[dep.id] = pool
            self.runner.scheduler.pools.append(pool)
            self.runner.scheduler.pools_changed()
            for summary in self._summaries(dep):
                self.runner.bus.publish(dep.id, summary)
            self._state(dep, "running")
        except _Failed as exc:
            shutil.rmtree(folder, ignore_errors=True)
            self._log(dep, f"deployment failed: {exc}")
            self._state(dep, "failed", str(exc))
        except Exception as exc:  # never leave a deployment in progress
            shutil.rmtree(folder, ignore_errors=True)
            self._state(dep, "failed", f"{type(exc).__name__}: {exc}")

    def _summaries(self, dep: Deployment) -> list[dict[str, Any]]:
        """The ``app_version_summary`` events of a deployment whose code is serving."""
        pool = self.pools.get(dep.id)
        return [{
            "event": "app_version_summary",
            "id": hashlib.sha1(f"{app['name']}\0{dep.version}".encode()).hexdigest()[:24],
            "app_name": app["name"], "version": dep.version,
            "region": "aws.us-east-1a",
            "actions": [{"name": a["name"], "input_schema": a["input_schema"],
                         "output_schema": a["output_schema"]}
                        for a in app["actions"]],
            "timestamp": format_ns(now_ns()),
        } for app in ((pool.manifest if pool else None) or {}).get("apps", [])]

    async def _build(self, dep: Deployment, data: bytes, folder: Path) -> None:
        from ...bundle import UnsafeBundleError, extract_bundle

        self._log(dep, f"extracting the bundle ({len(data)} bytes)")
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            files = await asyncio.to_thread(extract_bundle, data, folder)
        except UnsafeBundleError as exc:
            raise _Failed(f"refused the bundle: {exc}") from None
        self._log(dep, f"extracted {len(files)} file(s)")
        if not (folder / dep.entrypoint_rel_path).is_file():
            raise _Failed(f"entrypoint {dep.entrypoint_rel_path!r} is not in the bundle")
        try:
            declared = declared_dependencies(folder)
        except ValueError as exc:
            raise _Failed(str(exc)) from None
        missing = unsatisfied(declared)
        if not declared:
            self._log(dep, "no dependencies declared (pyproject.toml or requirements.txt)")
        elif not missing:
            self._log(dep, f"all {len(declared)} declared dependencies already installed")
        else:
            dep.deps_path = str(await self._install(dep, missing))

    async def _install(self, dep: Deployment, requirements: list[str]) -> Path:
        key = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:16]
        target = self.envs / key
        async with self._install_lock:
            if (target / ".complete").is_file():
                self._log(dep, f"reusing installed dependencies: {', '.join(requirements)}")
                return target
            self._log(dep, f"installing {', '.join(requirements)}")
            tmp = self.envs / f".{key}.{dep.id}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
                "--no-input", "--target", str(tmp), *requirements,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                if line and not line.startswith("WARNING: Location"):
                    self._log(dep, line)
            if await proc.wait() != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                raise _Failed(f"installing dependencies failed: {', '.join(requirements)}")
            (tmp / ".complete").write_text("\n".join(requirements))
            shutil.rmtree(target, ignore_errors=True)
            os.replace(tmp, target)
            return target

    def _pool(self, dep: Deployment, folder: Path) -> CodePool:
        extra = dict(dep.env_vars)
        if dep.deps_path:
            extra["PYTHONPATH"] = os.pathsep.join(
                p for p in (dep.deps_path, os.environ.get("PYTHONPATH")) if p)

        def env() -> dict[str, str]:
            return self.runner.worker_env(extra, dep.entrypoint_rel_path, dotenv=False)

        pool = CodePool(
            str(folder / dep.entrypoint_rel_path), folder, env, self.runner.scheduler,
            version=dep.version, deployment_id=dep.id, on_change=self.runner._pool_changed,
            log=self.runner.log, memory_limit_mb=self.runner.config.worker_memory_mb,
        )
        pool.env_keys = sorted(dep.env_vars)
        return pool

    async def _retire(self, pool: CodePool) -> None:
        """Stop routing to ``pool``; what it runs finishes, then it closes."""
        if pool in self.runner.scheduler.pools:
            self.runner.scheduler.pools.remove(pool)
        old = self.items.get(pool.deployment_id or "")
        if old is not None:
            self.pools.pop(old.id, None)
            self._state(old, "stopped", "replaced by a newer deployment of the same version")
        grace = max([a.inv.timeout_s for a in self.runner.scheduler.active.values()
                     if a.worker is not None and a.worker.pool is pool] or [0.0])
        background.start(pool.close(grace=grace), name=f"retire {pool.deployment_id}")

    async def restore(self) -> None:
        """Serve again what was running before a restart; fail what was half done."""
        for dep in list(self.items.values()):
            if dep.status in ("queued", "in_progress"):
                shutil.rmtree(self.root / dep.id, ignore_errors=True)
                self._state(dep, "failed", "interrupted by a runner restart")
            elif dep.status == "running":
                pool = self._pool(dep, self.root / dep.id)
                if await pool.reload():
                    self.pools[dep.id] = pool
                    self.runner.scheduler.pools.append(pool)
                else:
                    await pool.close()
                    self._state(dep, "failed", f"the code failed to load after a restart: "
                                                f"{pool.load_error}")
        if self.pools:
            self.runner.log(f"serving {len(self.pools)} deployed version(s)")

    # -- HTTP ------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        async def create(request: Request) -> Response:
            length = int(request.headers.get("content-length") or 0)
            if length > MAX_UPLOAD_BYTES:
                raise bad_request(f"upload too large: the limit is {MAX_UPLOAD_BYTES} bytes")
            try:
                form = await request.form(max_files=1, max_fields=1000,
                                          max_part_size=MAX_UPLOAD_BYTES)
            except Exception as exc:
                raise bad_request(f"expected a multipart/form-data upload: {exc}") from None
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise bad_request("'file' is required: the app's zip archive")
            data = await upload.read()
            env_vars: dict[str, str] = {}
            for key, value in form.multi_items():
                m = re.fullmatch(r"env_vars\[(.+)\]", key)
                if m and isinstance(value, str):
                    env_vars[m.group(1)] = value
            if isinstance(form.get("env_vars"), str):
                try:
                    env_vars.update({str(k): str(v) for k, v in
                                     json.loads(str(form["env_vars"])).items()})
                except (ValueError, AttributeError):
                    raise bad_request("'env_vars' must be a JSON object") from None
            entry = form.get("entrypoint_rel_path")
            version = form.get("version") or "latest"
            force = str(form.get("force") or "false").lower() in ("true", "1", "yes")
            dep = await self.create(data, str(entry) if entry else None, str(version),
                                    env_vars, force)
            return json_response(dep.to_wire(), 201)

        async def list_(request: Request) -> Response:
            q = request.query_params
            limit = int_param(request, "limit", 20, 1, 100)
            offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
            items = [d for d in reversed(list(self.items.values()))
                     if (not q.get("app_name") or q["app_name"] in d.app_names)
                     and (not q.get("app_version") or d.version == q["app_version"])
                     and (not q.get("query") or q["query"] in d.id
                          or any(q["query"] in n for n in d.app_names))]
            page, headers = paged(items, limit, offset)
            return json_response([d.to_wire() for d in page], headers=headers)

        async def get(request: Request) -> Response:
            return json_response(self._find(request.path_params["id"]).to_wire())

        async def events(request: Request) -> Response:
            dep = self._find(request.path_params["id"])
            heartbeat = self.runner.config.heartbeat_interval
            subscription = self.runner.bus.subscribe(dep.id)
            sub = subscription.__enter__()
            await self.runner.store.flush()  # what was published before we subscribed is stored
            logs = await asyncio.to_thread(self.runner.store.logs, dep.id)
            seen = {r.ts_ns for r in logs}

            async def stream() -> AsyncIterator[bytes]:
                try:
                    for r in logs:
                        yield sse_event({"event": "log", "message": r.message,
                                    "timestamp": format_ns(r.ts_ns)})
                    if dep.status in TERMINAL:
                        # Followed after it finished: what a live follower saw, in order.
                        for summary in self._summaries(dep) if dep.status == "running" else []:
                            yield sse_event(summary)
                        yield sse_event({"event": "deployment_state", "deployment": dep.to_wire(),
                                    "timestamp": format_ns(now_ns())})
                        return
                    while True:
                        try:
                            event = await asyncio.wait_for(sub.get(), heartbeat)
                        except TimeoutError:
                            yield sse_event({"event": "sse_heartbeat",
                                        "timestamp": format_ns(now_ns())})
                            continue
                        if event["event"] == "log" and _ns(event) in seen:
                            continue
                        yield sse_event(event)
                        if (event["event"] == "deployment_state"
                                and event["deployment"]["status"] in TERMINAL):
                            return
                finally:
                    subscription.__exit__(None, None, None)

            return StreamingResponse(stream(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})

        return [
            Route("/deployments", guard(create), methods=["POST"]),
            Route("/deployments", guard(list_), methods=["GET"]),
            Route("/deployments/{id}", guard(get), methods=["GET"]),
            Route("/deployments/{id}/events", guard(events), methods=["GET"]),
        ]

    def _find(self, dep_id: str) -> Deployment:
        dep = self.items.get(dep_id)
        if dep is None:
            raise not_found(f"deployment {dep_id!r} not found")
        return dep


def _ns(event: dict[str, Any]) -> int:
    from ...timeutil import parse_since

    return parse_since(event["timestamp"])


class _Failed(Exception):
    """A deployment failure with a message for the user."""
