"""WebMCP: the tools a browser's pages register, listed and invoked over DevTools.

Chromium 146 and later implement WebMCP behind the ``WebMCP`` feature (the runner starts
its Chromium with ``--enable-features=WebMCP``, :data:`FEATURE`): pages register tools with
``document.modelContext.registerTool(...)`` (Chromium's name for the spec's
``navigator.modelContext``, which the runner also defines in each page so that pages
written to the spec work) or declaratively with ``<form toolname=... tooldescription=...>``.
Chromium reports them on its ``WebMCP`` DevTools domain (``toolsAdded``, ``toolsRemoved``)
and runs them with ``WebMCP.invokeTool``, answering with ``toolInvoked`` and
``toolResponded``.

A :class:`WebMcpRegistry` is a :class:`~.page_watch.PageListener`: it enables the domain on
every page and keeps the live registrations, each under an opaque ``tool_ref``, which
becomes invalid when its document goes. Invoking a declarative form tool without
``toolautosubmit`` fills the form and answers ``awaiting_submission`` (Chromium waits for the
user to submit it); other tools answer once the page does.

Custom tools (``webmcp/custom-tools``) are the runner's own: a namespaced batch of
definitions ``{tool: {name, description, inputSchema, ...}, match: {url_patterns: [...]},
execute}`` whose ``execute(input)`` runs in the page (``kind: "page"``, the default) of each
open tab whose URL matches a pattern (``*`` matches any run of characters).

A Chromium without the domain (older than 146) gets a 501 that says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import itertools
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from ..errors import ApiError, bad_request, not_found
from .cdp import CdpError
from .page_watch import WatchedPage

__all__ = ["CustomTool", "FEATURE", "WebMcpRegistry", "WebMcpUnavailable", "check_namespace"]

#: The Chromium feature that turns WebMCP on.
FEATURE = "WebMCP"
DEFAULT_INVOKE_TIMEOUT_S = 30
MAX_INVOKE_TIMEOUT_S = 600
MAX_INPUT_BYTES = 1024 * 1024
MAX_SOURCE_BYTES = 8_000_000
MAX_OUTPUT_BYTES = 240 * 1024
_NAMESPACE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
_ANNOTATIONS = {"readOnly": "readOnlyHint", "untrustedContent": "untrustedContentHint",
                "consequential": "consequentialHint", "destructive": "destructiveHint",
                "idempotent": "idempotentHint", "openWorld": "openWorldHint",
                "autosubmit": "autosubmit"}
#: Makes the spec's ``navigator.modelContext`` name Chromium's ``document.modelContext``.
_NAVIGATOR_SHIM = """
(() => {
  if (!("modelContext" in Navigator.prototype) && "modelContext" in Document.prototype) {
    Object.defineProperty(Navigator.prototype, "modelContext", {
      get() { return document.modelContext; }, configurable: true, enumerable: true });
  }
})();
"""
#: Evaluates a custom-tool source to plain definitions (``execute`` as source text).
_DEFINE = """
(() => {
  const defs = (SOURCE_HERE
);
  if (!Array.isArray(defs) || defs.length === 0)
    throw new TypeError("the source must evaluate to a non-empty array of tool definitions");
  return JSON.stringify(defs.map((d, i) => {
    if (!d || typeof d !== "object") throw new TypeError(`definition ${i} is not an object`);
    if (typeof d.execute !== "function")
      throw new TypeError(`definition ${i} has no execute function`);
    const fn = String(d.execute);
    const { execute, ...rest } = d;
    return { ...rest, execute: fn };
  }));
})()
"""


class WebMcpUnavailable(ApiError):
    """A 501: this Chromium has no WebMCP."""

    def __init__(self, why: str) -> None:
        super().__init__(501, "not_available_locally", why,
                         headers={"x-should-retry": "false"})


@dataclass(eq=False)
class PageTool:
    """One live registration of a page."""

    ref: str
    page: WatchedPage
    frame_id: str
    name: str
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any]
    declarative: bool
    output_schema: dict[str, Any] | None = None
    title: str | None = None


@dataclass(eq=False)
class CustomTool:
    """One custom tool definition."""

    id: str
    namespace: str
    kind: str
    url_patterns: list[str]
    tool: dict[str, Any]
    execute: str

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "namespace": self.namespace,
                "match": {"url_patterns": list(self.url_patterns)}, "tool": dict(self.tool)}

    def matches(self, url: str) -> bool:
        plain = url.split("#", 1)[0]
        return any(fnmatch.fnmatchcase(plain, p) for p in self.url_patterns)


@dataclass
class _PageState:
    tools: dict[tuple[str, str], PageTool] = field(default_factory=dict)
    invocations: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    invoked: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    frames: dict[str, str] = field(default_factory=dict)  # frame id -> url
    #: What arrived for an invocation before its ``invokeTool`` answer was read (the answer
    #: and the events can come in one read of the pipe).
    early_answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    early_invoked: set[str] = field(default_factory=set)
    tab_id: int = 0
    window_id: int = 1


def _strip_fragment(url: str) -> str:
    return url.split("#", 1)[0]


class WebMcpRegistry:
    """The WebMCP tools of one browser's pages, and its custom tools."""

    KEY = "webmcp"

    def __init__(self) -> None:
        self.refs: dict[str, PageTool] = {}
        self.custom: dict[str, CustomTool] = {}
        #: Why WebMCP can't work in this browser (``None``: it can, as far as is known).
        self.unavailable: str | None = None
        self._tab_ids = itertools.count(1)
        self._frame_ids = itertools.count(1)
        self._frame_numbers: dict[str, int] = {}
        self.pages: set[WatchedPage] = set()

    # -- following the pages ----------------------------------------------------------------

    async def page_attached(self, page: WatchedPage) -> None:
        state = page.state[self.KEY] = _PageState(tab_id=next(self._tab_ids))
        self.pages.add(page)
        with contextlib.suppress(CdpError):
            found = await page.watcher.send("Browser.getWindowForTarget",
                                            {"targetId": page.target_id})
            state.window_id = int(found.get("windowId") or 1)
        with contextlib.suppress(CdpError):
            await page.send("Page.addScriptToEvaluateOnNewDocument",
                            {"source": _NAVIGATOR_SHIM, "runImmediately": True})
        try:
            await page.send("WebMCP.enable")
        except CdpError as exc:
            if "wasn't found" in str(exc) or "not found" in str(exc).lower():
                self.unavailable = (
                    "WebMCP is not available: this Chromium has no WebMCP DevTools domain "
                    f"({exc}); it needs Chromium 146 or later, started with "
                    f"--enable-features={FEATURE} (the runner adds the switch)")
            raise

    def page_detached(self, page: WatchedPage) -> None:
        self.pages.discard(page)
        state: _PageState | None = page.state.pop(self.KEY, None)
        if state is None:
            return
        for tool in state.tools.values():
            self.refs.pop(tool.ref, None)
        for future in [*state.invocations.values(), *state.invoked.values()]:
            if not future.done():
                future.set_exception(CdpError("the tab closed"))

    def page_event(self, page: WatchedPage, method: str, params: dict[str, Any]) -> None:
        state: _PageState | None = page.state.get(self.KEY)
        if state is None:
            return
        if method == "WebMCP.toolsAdded":
            for raw in params.get("tools") or []:
                self._added(page, state, raw)
        elif method == "WebMCP.toolsRemoved":
            for raw in params.get("tools") or []:
                tool = state.tools.pop((str(raw.get("frameId") or ""), str(raw.get("name"))),
                                       None)
                if tool is not None:
                    self.refs.pop(tool.ref, None)
        elif method == "WebMCP.toolInvoked":
            invocation = str(params.get("invocationId"))
            future = state.invoked.get(invocation)
            if future is None:
                _remember(state.early_invoked, invocation)
            elif not future.done():
                future.set_result(None)
        elif method == "WebMCP.toolResponded":
            invocation = str(params.get("invocationId"))
            answer = state.invocations.get(invocation)
            if answer is None:
                state.early_answers[invocation] = params
                while len(state.early_answers) > 100:
                    state.early_answers.pop(next(iter(state.early_answers)))
            elif not answer.done():
                answer.set_result(params)
        elif method == "Page.frameNavigated":
            frame = params.get("frame") or {}
            frame_id = str(frame.get("id") or "")
            state.frames[frame_id] = str(frame.get("url") or "")
            # A new document: the old one's registrations are gone with it.
            for key in [k for k in state.tools if k[0] == frame_id]:
                self.refs.pop(state.tools.pop(key).ref, None)
        elif method == "Page.frameDetached":
            frame_id = str(params.get("frameId") or "")
            for key in [k for k in state.tools if k[0] == frame_id]:
                self.refs.pop(state.tools.pop(key).ref, None)

    def _added(self, page: WatchedPage, state: _PageState, raw: dict[str, Any]) -> None:
        if not isinstance(raw, dict) or not raw.get("name"):
            return
        frame_id = str(raw.get("frameId") or page.frame_id or page.target_id)
        key = (frame_id, str(raw["name"]))
        old = state.tools.pop(key, None)
        if old is not None:
            self.refs.pop(old.ref, None)
        annotations = {_ANNOTATIONS[k]: v for k, v in (raw.get("annotations") or {}).items()
                       if k in _ANNOTATIONS and v}
        schema = raw.get("inputSchema")
        tool = PageTool(
            ref="wt_" + secrets.token_urlsafe(18), page=page, frame_id=frame_id,
            name=str(raw["name"]), description=str(raw.get("description") or ""),
            input_schema=schema if isinstance(schema, dict) else {"type": "object"},
            annotations=annotations, declarative="backendNodeId" in raw,
            output_schema=raw.get("outputSchema") if isinstance(
                raw.get("outputSchema"), dict) else None,
            title=raw.get("title") if isinstance(raw.get("title"), str) else None)
        state.tools[key] = tool
        self.refs[tool.ref] = tool

    # -- listing ----------------------------------------------------------------------------

    def _source(self, page: WatchedPage, state: _PageState, frame_id: str | None
                ) -> dict[str, Any]:
        source: dict[str, Any] = {"page_url": _strip_fragment(page.url), "page_title": page.title,
                                  "tab_id": state.tab_id, "window_id": state.window_id,
                                  "frame": None}
        if frame_id is not None and frame_id not in (page.frame_id, page.target_id):
            number = self._frame_numbers.setdefault(frame_id, next(self._frame_ids))
            source["frame"] = {"frame_id": number,
                               "url": _strip_fragment(state.frames.get(frame_id, ""))}
        return source

    async def refresh_pages(self) -> None:
        """The tabs' current titles and URLs (Chromium reports a title change late, if at all)."""
        watcher = next((p.watcher for p in self.pages), None)
        if watcher is None:
            return
        with contextlib.suppress(CdpError):
            found = await watcher.send("Target.getTargets")
            infos = {i.get("targetId"): i for i in found.get("targetInfos") or []}
            for page in self.pages:
                info = infos.get(page.target_id)
                if info is not None:
                    page.title = info.get("title") or page.title
                    page.url = info.get("url") or page.url

    def listing(self, exclude_custom: bool) -> list[dict[str, Any]]:
        """The ``tools`` of ``GET /webmcp/tools``: every live registration, then each custom
        tool once per open tab it matches."""
        out: list[dict[str, Any]] = []
        pages = sorted((p for p in self.pages if self.KEY in p.state),
                       key=lambda p: p.state[self.KEY].tab_id)
        for page in pages:
            state: _PageState = page.state[self.KEY]
            for tool in state.tools.values():
                metadata: dict[str, Any] = {"name": tool.name, "description": tool.description,
                                            "inputSchema": tool.input_schema}
                if tool.annotations:
                    metadata["annotations"] = tool.annotations
                if tool.output_schema is not None:
                    metadata["outputSchema"] = tool.output_schema
                if tool.title:
                    metadata["title"] = tool.title
                out.append({"tool_ref": tool.ref, "tool": metadata,
                            "source": self._source(page, state, tool.frame_id)})
        if not exclude_custom:
            for page in pages:
                state = page.state[self.KEY]
                for custom in self.custom.values():
                    if custom.matches(page.url):
                        source = self._source(page, state, None)
                        source["custom"] = {"id": custom.id, "namespace": custom.namespace}
                        source["target_id"] = page.target_id
                        out.append({"tool_ref": f"ct_{custom.id}.{page.target_id}",
                                    "tool": dict(custom.tool), "source": source})
        return out

    # -- invoking ---------------------------------------------------------------------------

    async def invoke(self, ref: str, arguments: dict[str, Any], timeout_s: float
                     ) -> dict[str, Any]:
        """The SDK's ``InvocationResult`` for one call of the tool ``ref`` names."""
        if ref.startswith("ct_"):
            return await self._invoke_custom(ref, arguments, timeout_s)
        tool = self.refs.get(ref)
        if tool is None or tool.page.detached:
            raise not_found(f"no live WebMCP tool with tool_ref {ref!r}: its document closed "
                            "or navigated (list the tools again)")
        state: _PageState = tool.page.state[self.KEY]
        loop = asyncio.get_running_loop()
        try:
            started = await tool.page.send("WebMCP.invokeTool", {
                "frameId": tool.frame_id, "toolName": tool.name, "input": arguments})
        except CdpError as exc:
            return {"invocation_id": "", "status": "error", "error_text": str(exc)}
        invocation = str(started.get("invocationId") or "")
        answered = state.invocations[invocation] = loop.create_future()
        invoked = state.invoked[invocation] = loop.create_future()
        if invocation in state.early_answers:
            answered.set_result(state.early_answers.pop(invocation))
        if invocation in state.early_invoked:
            state.early_invoked.discard(invocation)
            invoked.set_result(None)
        waits: set[asyncio.Future[Any]] = {answered}
        if tool.declarative and not tool.annotations.get("autosubmit"):
            waits.add(invoked)
        try:
            done, _ = await asyncio.wait(waits, timeout=timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            if answered in done:
                return _result(invocation, answered.result())
            if invoked in done and invoked.exception() is None:
                return {"invocation_id": invocation, "status": "awaiting_submission"}
            if done:
                raise next(iter(done)).exception() or CdpError("the tab closed")
            return {"invocation_id": invocation, "status": "error",
                    "error_text": f"outcome_unknown: no result within {timeout_s:g} s; the "
                                  "tool is not retried"}
        except CdpError as exc:
            return {"invocation_id": invocation, "status": "error",
                    "error_text": f"outcome_unknown: {exc}; the tool is not retried"}
        finally:
            state.invocations.pop(invocation, None)
            state.invoked.pop(invocation, None)

    async def _invoke_custom(self, ref: str, arguments: dict[str, Any], timeout_s: float
                             ) -> dict[str, Any]:
        tool_id, _, target_id = ref[3:].partition(".")
        custom = self.custom.get(tool_id)
        page = next((p for p in self.pages if p.target_id == target_id), None)
        if custom is None or page is None or not custom.matches(page.url):
            raise not_found(f"no live custom tool with tool_ref {ref!r}: it was removed, or "
                            "its tab closed or left the URLs it matches")
        invocation = "ci_" + secrets.token_hex(12)
        expression = f"(async () => ({custom.execute})({json.dumps(arguments)}))()"
        try:
            found = await asyncio.wait_for(page.send("Runtime.evaluate", {
                "expression": expression, "awaitPromise": True, "returnByValue": True,
                "userGesture": True}), timeout_s)
        except TimeoutError:
            return {"invocation_id": invocation, "status": "error",
                    "error_text": f"outcome_unknown: no result within {timeout_s:g} s"}
        except CdpError as exc:
            return {"invocation_id": invocation, "status": "error",
                    "error_text": f"outcome_unknown: {exc}"}
        if found.get("exceptionDetails"):
            details = found["exceptionDetails"]
            text = ((details.get("exception") or {}).get("description")
                    or details.get("text") or "the tool threw")
            return {"invocation_id": invocation, "status": "error", "error_text": str(text)}
        value = (found.get("result") or {}).get("value")
        if len(json.dumps(value, default=str)) > MAX_OUTPUT_BYTES:
            return {"invocation_id": invocation, "status": "error",
                    "error_text": f"the tool's output is larger than {MAX_OUTPUT_BYTES} bytes"}
        return {"invocation_id": invocation, "status": "completed", "output": value}

    # -- custom tools -----------------------------------------------------------------------

    async def add_custom(self, namespace: str, source: str, overwrite: bool
                         ) -> list[CustomTool]:
        """Evaluate ``source`` (in an isolated world of a tab) and add its definitions."""
        page = next(iter(sorted(self.pages, key=lambda p: p.state.get(self.KEY, _PageState())
                                .tab_id)), None)
        if page is None:
            raise ApiError(409, "conflict", "the browser has no open tab to evaluate the "
                           "tools' source in", headers={"x-should-retry": "false"})
        try:
            world = await page.send("Page.createIsolatedWorld", {
                "frameId": page.frame_id or page.target_id,
                "worldName": "__kernel_actions_custom_tools"})
            found = await page.send("Runtime.evaluate", {
                "expression": _DEFINE.replace("SOURCE_HERE", source), "contextId": world["executionContextId"],
                "returnByValue": True})
        except CdpError as exc:
            raise bad_request(f"the tools' source could not be evaluated: {exc}") from None
        if found.get("exceptionDetails"):
            details = found["exceptionDetails"]
            text = (details.get("exception") or {}).get("description") or details.get("text")
            raise bad_request(f"the tools' source failed: {text}")
        try:
            raw = json.loads((found.get("result") or {}).get("value") or "")
        except ValueError:
            raise bad_request("the tools' source did not evaluate to definitions") from None
        made = [_definition(namespace, i, d) for i, d in enumerate(raw)]
        names = [t.tool["name"] for t in made]
        if len(set(names)) != len(names):
            raise bad_request(f"tool names repeat within the batch: {names}")
        existing = {t.tool["name"] for t in self.custom.values() if t.namespace == namespace}
        if overwrite:
            for key in [k for k, t in self.custom.items() if t.namespace == namespace]:
                del self.custom[key]
        elif existing & set(names):
            raise ApiError(409, "conflict", (
                f"namespace {namespace!r} already has {sorted(existing & set(names))}: remove "
                "them first, or send force_overwrite_namespace: true"),
                headers={"x-should-retry": "false"})
        for tool in made:
            self.custom[tool.id] = tool
        return made

    def remove_custom(self, tool_id: str) -> None:
        if self.custom.pop(tool_id, None) is None:
            raise not_found(f"custom tool {tool_id!r} not found")


def _remember(seen: set[str], key: str) -> None:
    seen.add(key)
    if len(seen) > 100:
        seen.pop()


def _result(invocation: str, params: dict[str, Any]) -> dict[str, Any]:
    status = str(params.get("status") or "")
    if status == "Completed":
        return {"invocation_id": invocation, "status": "completed",
                "output": params.get("output")}
    if status == "Canceled":
        return {"invocation_id": invocation, "status": "canceled",
                "error_text": params.get("errorText") or "the invocation was canceled"}
    exception = params.get("exception") or {}
    text = params.get("errorText") or exception.get("description") or "the tool failed"
    return {"invocation_id": invocation, "status": "error", "error_text": str(text)}


def _definition(namespace: str, index: int, raw: Any) -> CustomTool:
    if not isinstance(raw, dict):
        raise bad_request(f"definition {index} is not an object")
    tool = raw.get("tool") if isinstance(raw.get("tool"), dict) else {
        k: raw[k] for k in ("name", "description", "inputSchema", "outputSchema",
                            "annotations", "title") if k in raw}
    name, description = tool.get("name"), tool.get("description")
    if not isinstance(name, str) or not name.strip():
        raise bad_request(f"definition {index} needs tool.name, a non-empty string")
    if not isinstance(description, str):
        raise bad_request(f"definition {index} ({name}) needs tool.description, a string")
    schema = tool.get("inputSchema", tool.get("input_schema", {"type": "object"}))
    if not isinstance(schema, dict):
        raise bad_request(f"definition {index} ({name}): inputSchema must be an object")
    match = raw.get("match")
    patterns = (match.get("url_patterns") if isinstance(match, dict)
                else raw.get("url_patterns"))
    if (not isinstance(patterns, list) or not patterns
            or not all(isinstance(p, str) and p for p in patterns)):
        raise bad_request(f"definition {index} ({name}) needs match.url_patterns, a "
                          "non-empty list of URL patterns (e.g. 'https://example.com/*')")
    kind = raw.get("kind", "page")
    if kind != "page":
        raise WebMcpUnavailable(
            f"definition {index} ({name}) is kind {kind!r}: the local runner runs custom "
            "tools in the page (kind 'page'); CDP-backed tools need Kernel's browser VM")
    metadata = {"name": name, "description": description, "inputSchema": schema}
    for key in ("outputSchema", "annotations", "title"):
        if key in tool:
            metadata[key] = tool[key]
    return CustomTool(id="cust_" + secrets.token_hex(8), namespace=namespace, kind=kind,
                      url_patterns=list(patterns), tool=metadata, execute=str(raw["execute"]))


def check_namespace(value: Any) -> str:
    if (not isinstance(value, str) or not value or len(value) > 64
            or not set(value) <= _NAMESPACE_CHARS):
        raise bad_request("'namespace' must be 1-64 letters, digits, '_', '-' or '.'; got "
                          f"{value!r}")
    return value
