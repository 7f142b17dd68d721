"""The ``/deployments`` endpoints: the hosted API's upload, list, get, delete and event
stream."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...timeutil import format_ns, now_ns
from ..errors import bad_request
from ..http.common import MAX_OFFSET, guard, int_param, json_response, paged
from ..http.sse import EventStream
from .service import MAX_UPLOAD_BYTES, TERMINAL, Deployments

__all__ = ["deployment_routes"]


def deployment_routes(deployments: Deployments) -> list[BaseRoute]:
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
        dep = await deployments.create(data, str(entry) if entry else None, str(version),
                                env_vars, force)
        return json_response(dep.to_wire(), 201)

    async def list_(request: Request) -> Response:
        q = request.query_params
        limit = int_param(request, "limit", 20, 1, 100)
        offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
        items = [d for d in reversed(list(deployments.items.values()))
                 if (not q.get("app_name") or q["app_name"] in d.app_names)
                 and (not q.get("app_version") or d.version == q["app_version"])
                 and (not q.get("query") or q["query"] in d.id
                      or any(q["query"] in n for n in d.app_names))]
        page, headers = paged(items, limit, offset)
        return json_response([d.to_wire() for d in page], headers=headers)

    async def get(request: Request) -> Response:
        return json_response(deployments.find(request.path_params["id"]).to_wire())

    async def delete(request: Request) -> Response:
        await deployments.delete(request.path_params["id"])
        return Response(status_code=204)

    async def events(request: Request) -> Response:
        dep = deployments.find(request.path_params["id"])
        with EventStream(deployments.bus, dep.id) as stream:
            await deployments.store.flush()  # what was published before we subscribed
            logs = await asyncio.to_thread(deployments.store.logs, dep.id)
        seen = {r.ts_ns for r in logs}
        opening = [{"event": "log", "message": r.message, "timestamp": format_ns(r.ts_ns)}
                   for r in logs]
        heartbeat = deployments.config.heartbeat_interval
        if dep.status in TERMINAL:
            # Followed after it finished: what a live follower saw, in order.
            if dep.status == "running":
                opening += deployments.summaries(dep)
            opening.append({"event": "deployment_state", "deployment": dep.to_wire(),
                            "timestamp": format_ns(now_ns())})
            return stream.response(opening, heartbeat=heartbeat, follow=False)
        return stream.response(
            opening, heartbeat=heartbeat,
            select=lambda e: None if e["event"] == "log" and _ns(e) in seen else e,
            ends=lambda e: (e["event"] == "deployment_state"
                            and e["deployment"]["status"] in TERMINAL))

    return [
        Route("/deployments", guard(create), methods=["POST"]),
        Route("/deployments", guard(list_), methods=["GET"]),
        Route("/deployments/{id}", guard(get), methods=["GET"]),
        Route("/deployments/{id}", guard(delete), methods=["DELETE"]),
        Route("/deployments/{id}/events", guard(events), methods=["GET"]),
    ]


def _ns(event: dict[str, Any]) -> int:
    from ...timeutil import parse_since

    return parse_since(event["timestamp"])
