"""The baseline: a bare Starlette endpoint that parses the same body and calls the same function."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).parent))
from trivial import add  # noqa: E402


async def invoke(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    payload = json.loads(body["payload"])
    return JSONResponse({"status": "succeeded", "output": json.dumps(add(payload))})


app = Starlette(routes=[Route("/invocations", invoke, methods=["POST"])])
