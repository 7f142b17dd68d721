"""Deployments: app versions uploaded as a zip, each served by its own worker pool.

``POST /deployments`` takes the hosted API's multipart upload (see ``routes``). The
bundle is checked before anything of it is kept or run (``intake``: limits, the
entrypoint, dependencies, and the label/version conflict), then the deployment goes
``queued → in_progress → running | failed``: the bundle is extracted safely, the
dependencies it declares that the runner's environment does not already satisfy
are installed (``installs``), and the code is loaded into a fresh worker pool
serving that version. A deployment that fails leaves nothing behind. Running
deployments are started again when the runner restarts.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ...ids import new_id
from ...timeutil import format_ns, now_ns
from ...tooling.node_choice import is_node_target
from ..config import Config
from ..engine import background
from ..engine.app_versions import REGION, app_version_summary
from ..engine.events import EventBus
from ..engine.pool import CodePool
from ..engine.scheduler import Scheduler
from ..engine.store import Store
from ..engine.text import check_text
from ..errors import bad_request, conflict, not_found

if TYPE_CHECKING:
    from .installs import Installer
    from .intake import BundleInfo

__all__ = ["Deployments", "Deployment", "PoolFactory", "MAX_UPLOAD_BYTES", "TERMINAL"]

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
TERMINAL = frozenset({"running", "failed", "stopped"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL
);
"""


class PoolFactory(Protocol):
    """Makes the worker pool that serves a deployed version (the runner wires it up)."""

    def __call__(self, target: str, cwd: Path, *, version: str, deployment_id: str,
                 env_vars: dict[str, str], entrypoint_relpath: str,
                 deps_path: str | None) -> CodePool: ...


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
            "region": REGION,
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


class Deployments:
    """The runner's deployed versions: created, built, served, replaced and restored."""

    def __init__(
        self,
        *,
        scheduler: Scheduler,
        store: Store,
        bus: EventBus,
        config: Config,
        make_pool: PoolFactory,
        log: Callable[[str], None],
    ) -> None:
        self.scheduler = scheduler
        self.store = store
        self.bus = bus
        self.config = config
        self.make_pool = make_pool
        self.log = log
        assert config.data_dir is not None
        self.root = config.data_dir / "deployments"
        self.items: dict[str, Deployment] = {}
        self.pools: dict[str, CodePool] = {}
        #: Deployments deleted (``DELETE /deployments/{id}``) while being built or served.
        self._deleted: set[str] = set()
        self._seq = 0
        store.declare_schema(_SCHEMA)
        for (body,) in store.query("SELECT body FROM deployments ORDER BY seq"):
            dep = Deployment(**json.loads(body))
            self.items[dep.id] = dep
            self._seq += 1

    # -- persistence and events ----------------------------------------------------------


    @functools.cached_property
    def installer(self) -> Installer:
        """Installs deployments' dependencies; imported (packaging, tomllib) on first use,
        not while the runner starts."""
        from .installs import Installer

        assert self.config.data_dir is not None
        return Installer(self.config.data_dir / "envs")
    def _save(self, dep: Deployment) -> None:
        dep.updated_ns = now_ns()
        self._seq += 1
        self.store.execute(
            "INSERT INTO deployments (id, seq, body) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET body=excluded.body", (dep.id, self._seq,
                                                               dep.to_record()))

    def _state(self, dep: Deployment, status: str, reason: str | None = None) -> None:
        dep.status = status
        dep.status_reason = reason
        self._save(dep)
        self.bus.publish(dep.id, {"event": "deployment_state", "deployment": dep.to_wire(),
                                  "timestamp": format_ns(now_ns())})
        if status in ("running", "failed"):
            self.log(f"deployment {dep.id} ({dep.version}): {status}"
                     + (f": {reason}" if reason else ""))

    def _log(self, dep: Deployment, message: str) -> None:
        ts = now_ns()
        self.store.add_logs([(dep.id, ts, message)])
        self.bus.publish(dep.id, {"event": "log", "message": message,
                                  "timestamp": format_ns(ts)})

    def find(self, dep_id: str) -> Deployment:
        dep = self.items.get(dep_id)
        if dep is None:
            raise not_found(f"deployment {dep_id!r} not found")
        return dep

    # -- deploying ---------------------------------------------------------------------

    def _conflicts(self, app_names: list[str], version: str, exclude: str | None = None
                   ) -> list[CodePool]:
        return [
            pool for pool, app in self.scheduler.serving()
            if app["name"] in app_names and pool.version == version
            and pool.deployment_id != exclude
        ]

    async def create(self, data: bytes, entrypoint: str | None, version: str,
                     env_vars: dict[str, str], force: bool) -> Deployment:
        """Check the upload (400/409 at once), then build it in the background."""
        check_text("version", version)
        for key, value in env_vars.items():
            check_text("env_vars", key)  # not the key itself: it can't be printed
            check_text("env_vars", value)
        # Reading bundles (packaging, tomllib) is imported on the first upload, not at start.
        from .intake import BundleRefused, inspect_bundle

        try:
            # A zip with many entries takes a while to read: not on the event loop.
            info: BundleInfo = await asyncio.to_thread(
                inspect_bundle, data, entrypoint,
                allow_local_deps=self.config.allow_local_deps)
        except BundleRefused as exc:
            raise bad_request(str(exc)) from None
        if info.app_names and not force:
            taken = self._conflicts(info.app_names, version)
            if taken:
                raise conflict(
                    f"app {info.app_names[0]!r} already has a version {version!r}: deploy "
                    "another version, or pass force to replace it")
        dep = Deployment(
            id=new_id(), created_ns=now_ns(), version=version,
            entrypoint_rel_path=info.entrypoint, env_vars=env_vars, force=force,
            source_checksum=hashlib.sha256(data).hexdigest(), app_names=info.app_names,
        )
        self.items[dep.id] = dep
        self._save(dep)
        await self.store.flush()
        background.start(self._deploy(dep, data, info), name=f"deploy {dep.id}")
        return dep

    async def _deploy(self, dep: Deployment, data: bytes, info: BundleInfo) -> None:
        folder = self.root / dep.id
        if dep.id in self._deleted:  # deleted before it began
            return
        try:
            self._state(dep, "in_progress")
            await self._build(dep, data, folder, info)
            if dep.id in self._deleted:
                raise _Deleted
            pool = self._pool(dep, folder)
            self._log(dep, "loading the code")
            if not await pool.reload():
                await pool.close()
                raise _Failed(f"the code failed to load: {pool.load_error}")
            if dep.id in self._deleted:  # deleted while its code loaded
                await pool.close()
                raise _Deleted
            names = [a["name"] for a in (pool.manifest or {}).get("apps", [])]
            dep.app_names = names
            # Names the source did not show (built at run time) are only known now.
            taken = self._conflicts(names, dep.version, exclude=dep.id)
            if taken and not dep.force:
                await pool.close()
                raise _Failed(f"app {names[0]!r} already has a version {dep.version!r}; "
                              "pass force to replace it")
            for old in taken:
                self._retire(old)
            self.pools[dep.id] = pool
            self.scheduler.add_pool(pool)
            for summary in self.summaries(dep):
                self.bus.publish(dep.id, summary)
            self._state(dep, "running")
        except _Deleted:
            await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)
        except _Failed as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if dep.id not in self._deleted:
                self._log(dep, f"deployment failed: {exc}")
                self._state(dep, "failed", str(exc))
        except Exception as exc:  # never leave a deployment in progress
            shutil.rmtree(folder, ignore_errors=True)
            if dep.id not in self._deleted:
                self._state(dep, "failed", f"{type(exc).__name__}: {exc}")

    def summaries(self, dep: Deployment) -> list[dict[str, Any]]:
        """The ``app_version_summary`` events of a deployment whose code is serving."""
        pool = self.pools.get(dep.id)
        return [{"event": "app_version_summary", **app_version_summary(app, dep.version),
                 "timestamp": format_ns(now_ns())}
                for app in ((pool.manifest if pool else None) or {}).get("apps", [])]

    async def _build(self, dep: Deployment, data: bytes, folder: Path, info: BundleInfo
                     ) -> None:
        from ...tooling.bundle import UnsafeBundleError, extract_bundle

        self._log(dep, f"extracting the bundle ({len(data)} bytes)")
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            files = await asyncio.to_thread(extract_bundle, data, folder)
        except UnsafeBundleError as exc:
            raise _Failed(f"refused the bundle: {exc}") from None
        self._log(dep, f"extracted {len(files)} file(s)")
        from .installs import DependencyError, unsatisfied

        if is_node_target(dep.entrypoint_rel_path):  # a TypeScript app: its node_modules
            from .node_installs import install_node_dependencies

            try:
                await install_node_dependencies(folder, lambda line: self._log(dep, line))
            except DependencyError as exc:
                raise _Failed(str(exc)) from None
            return

        declared = info.requirements
        missing = unsatisfied(declared)
        if not declared:
            self._log(dep, "no dependencies declared (pyproject.toml or requirements.txt)")
        elif not missing:
            self._log(dep, f"all {len(declared)} declared dependencies already installed")
        else:
            try:
                path = await self.installer.install(missing, dep.id,
                                                    lambda line: self._log(dep, line))
            except DependencyError as exc:
                raise _Failed(str(exc)) from None
            dep.deps_path = str(path)

    def _pool(self, dep: Deployment, folder: Path) -> CodePool:
        env_vars = dict(dep.env_vars)
        pool = self.make_pool(
            str(folder / dep.entrypoint_rel_path), folder, version=dep.version,
            deployment_id=dep.id, env_vars=env_vars, entrypoint_relpath=dep.entrypoint_rel_path,
            deps_path=dep.deps_path,
        )
        pool.env_keys = sorted(dep.env_vars)
        return pool

    async def delete(self, dep_id: str) -> Deployment:
        """``DELETE /deployments/{id}``: stop the deployment and delete its code.

        A running one stops serving at once (what it runs finishes, then its workers
        exit and its folder is deleted); one still being built stops there. It stays
        listed as ``stopped``, as on Kernel; a deployment already stopped or failed is
        left as it is."""
        dep = self.find(dep_id)
        if dep.status in ("stopped", "failed"):
            return dep
        self._deleted.add(dep.id)
        pool = self.pools.pop(dep.id, None)
        self._log(dep, "deleted: stopping")
        self._state(dep, "stopped", "deleted")
        await self.store.flush()
        if pool is not None:
            self.scheduler.remove_pool(pool)
            grace = self.scheduler.drain_time(pool)
            background.start(self._remove(pool, self.root / dep.id, grace),
                             name=f"delete deployment {dep.id}")
        return dep

    async def _remove(self, pool: CodePool, folder: Path, grace: float) -> None:
        await pool.close(grace=grace)
        await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)

    def _retire(self, pool: CodePool) -> None:
        """Stop routing to ``pool``; what it runs finishes, then it closes."""
        self.scheduler.remove_pool(pool)
        old = self.items.get(pool.deployment_id or "")
        if old is not None:
            self.pools.pop(old.id, None)
            self._state(old, "stopped", "replaced by a newer deployment of the same version")
        grace = self.scheduler.drain_time(pool)
        background.start(pool.close(grace=grace), name=f"retire {pool.deployment_id}")

    async def restore(self) -> None:
        """Serve again what was running before a restart; fail what was half done."""
        for dep in list(self.items.values()):
            if dep.status == "stopped" and dep.status_reason == "deleted":
                # Deleted before a restart that came before its folder went.
                await asyncio.to_thread(shutil.rmtree, self.root / dep.id, ignore_errors=True)
            elif dep.status in ("queued", "in_progress"):
                shutil.rmtree(self.root / dep.id, ignore_errors=True)
                self._state(dep, "failed", "interrupted by a runner restart")
            elif dep.status == "running":
                pool = self._pool(dep, self.root / dep.id)
                if await pool.reload():
                    self.pools[dep.id] = pool
                    self.scheduler.add_pool(pool)
                else:
                    await pool.close()
                    self._state(dep, "failed", f"the code failed to load after a restart: "
                                                f"{pool.load_error}")
        if self.pools:
            self.log(f"serving {len(self.pools)} deployed version(s)")


class _Failed(Exception):
    """A deployment failure with a message for the user."""


class _Deleted(Exception):
    """The deployment was deleted while it was being built."""
