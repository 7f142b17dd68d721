"""A small client for the runner's API (and any Kernel-compatible API), used by the CLI.

The base URL comes from the argument, else ``KERNEL_BASE_URL``, else the runner
whose state file is in the ``.kernel/`` folder of the current folder or a parent
(see :mod:`kernel_actions.tooling.discovery`), else the local runner's default address; the key from the argument, else ``KERNEL_API_KEY`` (the official SDKs'
conventions), sent as a bearer token. Every failure is a :class:`ClientError`
whose ``exit_code`` is the one the CLI exits with:

==========  ===============================================================
exit code   meaning
==========  ===============================================================
2           unusable request on our side (a malformed URL)
3           the API can't be reached (connection refused, lost mid-stream)
4           the API answered 4xx: printed as ``code: message``
5           the API answered 5xx, answered something that isn't the API, or timed out
==========  ===============================================================
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from .. import __version__
from ..headers import STALE_HEADER
from .discovery import DATA_DIR_NAME, DEFAULT_URL, STATE_FILE, find_runner

__all__ = [
    "RunnerClient", "Page", "ClientError", "BadRequest", "Unreachable", "ApiFailure",
    "BadAnswer", "DEFAULT_URL", "CANCEL_OUTPUT", "TERMINAL", "resolve_base_url",
]

#: What Kernel's CLI records as the output of an invocation cancelled with Ctrl-C.
CANCEL_OUTPUT = '{"error":"Invocation cancelled by user"}'
TERMINAL = frozenset({"succeeded", "failed"})

_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class ClientError(Exception):
    """A failure talking to the API; ``message`` is one line fit for a terminal."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ClientError):
    """We can't even send the request (e.g. the URL is malformed)."""

    exit_code = 2


class Unreachable(ClientError):
    """Nothing answers at the base URL, or the connection was lost."""

    exit_code = 3


class ApiFailure(ClientError):
    """An error answer, ``{code, message}``: exit 4 for a 4xx, 5 for a 5xx."""

    def __init__(self, status: int, code: str, message: str,
                 retry_after: str | None = None) -> None:
        text = f"{code}: {message}"
        if retry_after:
            text += f" (retry after {retry_after} s)"
        super().__init__(text)
        self.status = status
        self.code = code
        self.exit_code = 4 if status < 500 else 5


class BadAnswer(ClientError):
    """The server answered, but not as the API does (or not in time)."""

    exit_code = 5


@dataclass
class Page:
    """One page of a list endpoint, with the paging headers the SDKs read."""

    items: list[dict[str, Any]]
    has_more: bool
    next_offset: int


def _api_failure(response: httpx.Response) -> ApiFailure:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        code = str(body.get("code") or "error")
        message = body["message"]
    else:
        code = response.reason_phrase.lower().replace(" ", "_") or "error"
        message = response.text.strip()[:200] or f"HTTP {response.status_code}"
    return ApiFailure(response.status_code, code, message, response.headers.get("Retry-After"))


def resolve_base_url(base_url: str | None) -> tuple[str, str]:
    """The API's URL and where it came from: ``--api-url``, ``KERNEL_BASE_URL``,
    ``state file PATH`` (a running runner found from this folder) or ``default``."""
    if base_url:
        return base_url, "--api-url"
    if os.environ.get("KERNEL_BASE_URL"):
        return os.environ["KERNEL_BASE_URL"], "KERNEL_BASE_URL"
    found = find_runner()
    if found is not None:
        return found.url, f"state file {found.path}"
    return DEFAULT_URL, "default"


class RunnerClient:
    """Synchronous client for the invocation, app and deployment endpoints."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        url, self.url_source = resolve_base_url(base_url)
        self.base_url = url.strip().rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise BadRequest(f"invalid API URL {self.base_url!r}: it must start with "
                             f"http:// or https://")
        key = api_key if api_key is not None else os.environ.get("KERNEL_API_KEY")
        headers = {"User-Agent": f"kernel-actions/{__version__}"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=_TIMEOUT,
                                     transport=transport)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise BadRequest(f"invalid API URL {self.base_url!r}: {exc}") from None
        #: The load error's first line when an answer said the code is stale (see
        #: ``kernel_actions.headers.STALE_HEADER``); None while the code is current.
        self.stale: str | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RunnerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------

    @property
    def is_local(self) -> bool:
        host = self.http.base_url.host
        return host in ("127.0.0.1", "localhost", "::1", "0.0.0.0")

    def _unreachable(self, exc: Exception, *, lost: bool = False) -> Unreachable:
        if lost:
            return Unreachable(f"lost the connection to {self.base_url} "
                               f"({type(exc).__name__}: {exc or 'closed'})")
        return Unreachable(f"cannot reach {self.base_url} ({type(exc).__name__}): "
                           f"{self._where_hint()}")

    def _where_hint(self) -> str:
        """How to point the client at the right API, given where its URL came from."""
        if not self.is_local:
            return "check KERNEL_BASE_URL or --api-url"
        start = "is the runner running? Start it with `kernel-actions dev main.py`"
        if self.url_source == "--api-url":
            return f"{start}, or check the URL given to --api-url"
        if self.url_source == "KERNEL_BASE_URL":
            return f"{start}, or check KERNEL_BASE_URL (--api-url overrides it)"
        if self.url_source.startswith("state file "):
            return (f"{self.url_source.removeprefix('state file ')} names it but it does not "
                    "answer; restart it, or pass --api-url URL")
        return (f"{start}; a runner on another port is found from its app's folder "
                f"({DATA_DIR_NAME}/{STATE_FILE}) or named with --api-url URL")

    def _translate(self, exc: httpx.HTTPError, what: str) -> ClientError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return self._unreachable(exc)
        if isinstance(exc, httpx.TimeoutException):
            return BadAnswer(f"{what} timed out: {self.base_url} did not answer in time")
        if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
            return BadRequest(f"invalid request URL for {what}: {exc}")
        return self._unreachable(exc, lost=True)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; raise the :class:`ClientError` its failure maps to."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._translate(exc, f"{method} {path}") from None
        if response.status_code >= 400:
            raise _api_failure(response)
        self.stale = response.headers.get(STALE_HEADER)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise BadAnswer(f"{method} {path} on {self.base_url} did not answer JSON "
                            f"(is this a Kernel API?)") from None

    def stream(self, path: str, params: dict[str, Any] | None = None, *,
               idle_timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Server-Sent Events from ``path``: each ``data:`` payload, decoded from JSON.

        With ``idle_timeout``, the stream ends quietly once that many seconds pass
        without an event other than a heartbeat.
        """
        timeout = httpx.Timeout(10.0, read=idle_timeout)
        last_event = time.monotonic()
        try:
            with self.http.stream("GET", path, params=params, timeout=timeout,
                                  headers={"Accept": "text/event-stream"}) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _api_failure(response)
                data: list[str] = []
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                        continue
                    if line or not data:
                        continue  # comments, other fields, keep-alive blank lines
                    event = self._decode_event(data, path)
                    data = []
                    now = time.monotonic()
                    if event.get("event") == "sse_heartbeat":
                        if idle_timeout is not None and now - last_event > idle_timeout:
                            return
                    else:
                        last_event = now
                    yield event
                if data:
                    yield self._decode_event(data, path)
        except httpx.ReadTimeout:
            if idle_timeout is None:
                raise BadAnswer(f"the event stream {path} went silent") from None
        except httpx.HTTPError as exc:
            raise self._translate(exc, f"GET {path}") from None

    def _decode_event(self, data: list[str], path: str) -> dict[str, Any]:
        try:
            event = json.loads("\n".join(data))
        except ValueError:
            raise BadAnswer(f"the event stream {path} sent data that is not JSON") from None
        if not isinstance(event, dict):
            raise BadAnswer(f"the event stream {path} sent an event that is not an object")
        return event

    # -- invocations --------------------------------------------------------------------

    def create_invocation(self, app_name: str, action_name: str, *, version: str = "latest",
                          payload: str | None = None, is_async: bool = False,
                          async_timeout: int | None = None) -> dict[str, Any]:
        """``POST /invocations``; a sync request waits as long as the API does."""
        body: dict[str, Any] = {"app_name": app_name, "action_name": action_name,
                                "version": version}
        if payload is not None:
            body["payload"] = payload
        if is_async:
            body["async"] = True
            if async_timeout is not None:
                body["async_timeout_seconds"] = async_timeout
        timeout = _TIMEOUT if is_async else httpx.Timeout(30.0, connect=10.0, read=None)
        result: dict[str, Any] = self._json("POST", "/invocations", json=body, timeout=timeout)
        return result

    def get_invocation(self, invocation_id: str, *, detail: bool = False) -> dict[str, Any]:
        params = {"detail": "1"} if detail else None
        result: dict[str, Any] = self._json("GET", f"/invocations/{invocation_id}",
                                            params=params)
        return result

    def list_invocations(self, *, app_name: str | None = None, action_name: str | None = None,
                         status: str | None = None, version: str | None = None,
                         since: str | None = None, query: str | None = None,
                         deployment_id: str | None = None, limit: int | None = None,
                         offset: int | None = None, detail: bool = False) -> Page:
        """One page of ``GET /invocations``, newest first."""
        params = {k: v for k, v in {
            "app_name": app_name, "action_name": action_name, "status": status,
            "version": version, "since": since, "query": query, "deployment_id": deployment_id,
            "limit": limit, "offset": offset, "detail": "1" if detail else None,
        }.items() if v is not None}
        response = self.request("GET", "/invocations", params=params)
        try:
            items = response.json()
        except ValueError:
            items = None
        if not isinstance(items, list):
            raise BadAnswer(f"GET /invocations on {self.base_url} did not answer a JSON list")
        try:
            next_offset = int(response.headers.get("X-Next-Offset") or 0)
        except ValueError:
            next_offset = 0
        return Page(items, response.headers.get("X-Has-More") == "true", next_offset)

    def iter_invocations(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every invocation matching ``filters``, following the paging headers."""
        offset = int(filters.pop("offset", None) or 0)
        while True:
            page = self.list_invocations(offset=offset, **filters)
            yield from page.items
            if not page.has_more or page.next_offset <= offset:
                return
            offset = page.next_offset

    def update_invocation(self, invocation_id: str, status: str,
                          output: str | None = None) -> dict[str, Any]:
        """``PATCH /invocations/{id}``: finish an invocation from outside."""
        body: dict[str, Any] = {"status": status}
        if output is not None:
            body["output"] = output
        result: dict[str, Any] = self._json("PATCH", f"/invocations/{invocation_id}", json=body)
        return result

    def cancel_invocation(self, invocation_id: str) -> dict[str, Any]:
        """Cancel as Kernel's CLI does: ``failed`` with "Invocation cancelled by user"."""
        return self.update_invocation(invocation_id, "failed", CANCEL_OUTPUT)

    def invocation_browsers(self, invocation_id: str) -> list[dict[str, Any]]:
        """``GET /invocations/{id}/browsers``: the browsers the invocation created."""
        result = self._json("GET", f"/invocations/{invocation_id}/browsers")
        browsers = result.get("browsers") if isinstance(result, dict) else result
        return list(browsers or [])

    def delete_invocation_browsers(self, invocation_id: str) -> None:
        """``DELETE /invocations/{id}/browsers``, as Kernel's CLI sends after a cancel."""
        self.request("DELETE", f"/invocations/{invocation_id}/browsers")

    def follow(self, invocation_id: str, since: str | None = None, *,
               idle_timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """``GET /invocations/{id}/events``: states, logs and errors until it is terminal."""
        return self.stream(f"/invocations/{invocation_id}/events",
                           {"since": since} if since else None, idle_timeout=idle_timeout)

    def runner_events(self) -> Iterator[dict[str, Any]]:
        """The local runner's ``GET /_runner/events``: every invocation's state changes."""
        return self.stream("/_runner/events")

    # -- apps and deployments -------------------------------------------------------------

    def list_apps(self, *, app_name: str | None = None,
                  version: str | None = None) -> list[dict[str, Any]]:
        """Every app version (all pages of ``GET /apps``)."""
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            params = {k: v for k, v in {"app_name": app_name, "version": version,
                                        "offset": offset}.items() if v is not None}
            response = self.request("GET", "/apps", params=params)
            try:
                page = response.json()
            except ValueError:
                page = None
            if not isinstance(page, list):
                raise BadAnswer(f"GET /apps on {self.base_url} did not answer a JSON list")
            items += page
            nxt = int(response.headers.get("X-Next-Offset") or 0)
            if response.headers.get("X-Has-More") != "true" or nxt <= offset:
                return items
            offset = nxt

    def deploy(self, bundle: bytes, *, entrypoint_rel_path: str, version: str = "latest",
               env_vars: dict[str, str] | None = None, force: bool = False,
               region: str | None = None) -> dict[str, Any]:
        """``POST /deployments``: upload a bundle zip as Kernel's CLI and SDKs do.

        The multipart fields are the SDK's ``deployment_create_params``: ``file``,
        ``entrypoint_rel_path``, ``version``, ``force``, ``region`` (when given) and one
        ``env_vars[KEY]`` field per variable.
        """
        data = {"entrypoint_rel_path": entrypoint_rel_path, "version": version,
                "force": "true" if force else "false",
                **({"region": region} if region is not None else {}),
                **{f"env_vars[{k}]": v for k, v in (env_vars or {}).items()}}
        result: dict[str, Any] = self._json(
            "POST", "/deployments", data=data,
            files={"file": ("bundle.zip", bundle, "application/zip")},
            timeout=httpx.Timeout(300.0, connect=10.0))
        return result

    def follow_deployment(self, deployment_id: str) -> Iterator[dict[str, Any]]:
        """``GET /deployments/{id}/events``: logs, states and app summaries."""
        return self.stream(f"/deployments/{deployment_id}/events")
