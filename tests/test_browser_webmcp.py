"""``browsers.webmcp`` through the official SDK on this machine's Chromium: the tools a page
registers (imperatively, through ``navigator.modelContext``, and declaratively, with a form)
listed and invoked, custom tools, and what a stale ``tool_ref`` gets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kernel import BadRequestError, Kernel, NotFoundError

from .conftest import NEEDS_CHROMIUM, RunnerProcess, http_server, poll
from .helpers import sdk_client, serve_runner

pytestmark = [NEEDS_CHROMIUM]
PAGE = b"""<!doctype html><title>Tools</title>
<form toolname="search" tooldescription="Search the catalog" action="/done">
  <input name="q" toolparamdescription="What to look for"><button>Go</button></form>
<script>
navigator.modelContext.registerTool({
  name: "add", description: "Adds two numbers", annotations: {readOnlyHint: true},
  inputSchema: {type: "object", properties: {a: {type: "number"}, b: {type: "number"}}},
  execute: async ({a, b}) => ({sum: a + b}),
});
navigator.modelContext.registerTool({
  name: "fail", description: "Always fails", inputSchema: {type: "object"},
  execute: async () => { throw new Error("it failed"); },
});
</script>"""


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with http_server(lambda path: (200, "text/html", PAGE)) as url:
        yield url


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerProcess]:
    with serve_runner(tmp_path_factory.mktemp("webmcp")) as proc:
        yield proc


@pytest.fixture(scope="module")
def k(runner: RunnerProcess) -> Kernel:
    return sdk_client(runner, timeout=120)


@pytest.fixture(scope="module")
def browser(k: Kernel, site: str) -> Iterator[str]:
    created = k.browsers.create(timeout_seconds=600).session_id
    reply = k.browsers.playwright.execute(created, code=f"await page.goto({site + '/tools'!r})")
    assert reply.success, reply.error
    yield created
    k.browsers.delete_by_id(created)


def tools_by_name(k: Kernel, browser: str) -> dict[str, object]:
    return {t.tool.name: t for t in k.browsers.webmcp.list_tools(browser).tools}


def test_page_tools_are_listed_and_invoked(k: Kernel, browser: str, site: str) -> None:
    tools = poll(lambda: (found := tools_by_name(k, browser)).keys() >= {"add", "fail", "search"}
                 and found, timeout=20)
    add, search = tools["add"], tools["search"]  # type: ignore[index]
    assert add.tool.description == "Adds two numbers"  # type: ignore[attr-defined]
    assert add.tool.annotations.read_only_hint is True  # type: ignore[attr-defined]
    assert add.source.page_url == site + "/tools" and add.source.frame is None  # type: ignore[attr-defined]
    assert add.source.page_title == "Tools"  # type: ignore[attr-defined]
    assert search.tool.input_schema["properties"]["q"]["description"] == "What to look for"  # type: ignore[attr-defined]
    done = k.browsers.webmcp.invoke_tool(browser, tool_ref=add.tool_ref,  # type: ignore[attr-defined]
                                         input={"a": 2, "b": 40})
    assert done.status == "completed" and done.output == {"sum": 42}
    failed = k.browsers.webmcp.invoke_tool(browser, tool_ref=tools["fail"].tool_ref, input={})  # type: ignore[attr-defined]
    assert failed.status == "error" and "it failed" in (failed.error_text or "")
    # A form without toolautosubmit is filled in and left for someone to submit.
    filled = k.browsers.webmcp.invoke_tool(browser, tool_ref=search.tool_ref,  # type: ignore[attr-defined]
                                           input={"q": "lamps"})
    assert filled.status == "awaiting_submission"
    value = k.browsers.playwright.execute(
        browser, code="return await page.inputValue('input[name=q]')")
    assert value.result == "lamps"
    with pytest.raises(NotFoundError, match="tool_ref"):
        k.browsers.webmcp.invoke_tool(browser, tool_ref="wt_gone", input={})
    with pytest.raises(BadRequestError, match="input"):
        k.browsers.webmcp.with_raw_response.invoke_tool(
            browser, tool_ref=add.tool_ref, input=None)  # type: ignore[arg-type, attr-defined]


def test_custom_tools_run_in_matching_tabs(k: Kernel, browser: str, site: str) -> None:
    added = k.browsers.webmcp.custom_tools.add(browser, namespace="shop", source=(
        "[{tool: {name: 'title', description: 'The page title', inputSchema: {type: 'object'}},"
        f" match: {{url_patterns: [{site + '/*'!r}]}},"
        " execute: async (input) => ({title: document.title, echo: input.word})},"
        " {tool: {name: 'elsewhere', description: 'Never matches'},"
        "  match: {url_patterns: ['https://example.invalid/*']}, execute: () => 1}]"))
    assert sorted(t.tool.name for t in added.tools) == ["elsewhere", "title"]
    assert all(t.namespace == "shop" and t.kind == "page" for t in added.tools)
    listed = [t for t in k.browsers.webmcp.list_tools(browser).tools if t.source.custom]
    assert [t.tool.name for t in listed] == ["title"]  # only where its pattern matches
    assert listed[0].source.custom.namespace == "shop" and listed[0].source.target_id  # type: ignore[union-attr]
    assert all(t.source.custom is None for t in
               k.browsers.webmcp.list_tools(browser, exclude_custom=True).tools)
    ran = k.browsers.webmcp.invoke_tool(browser, tool_ref=listed[0].tool_ref,
                                        input={"word": "hi"})
    assert ran.status == "completed" and ran.output == {"title": "Tools", "echo": "hi"}
    with pytest.raises(Exception, match="already has"):
        k.browsers.webmcp.custom_tools.add(browser, namespace="shop", source=(
            "[{tool: {name: 'title', description: 'again'}, match: {url_patterns: ['*']},"
            " execute: () => 2}]"))
    replaced = k.browsers.webmcp.custom_tools.add(
        browser, namespace="shop", force_overwrite_namespace=True, source=(
            "[{tool: {name: 'title', description: 'again'}, match: {url_patterns: ['*']},"
            " execute: () => 2}]"))
    assert [t.tool.description for t in replaced.tools] == ["again"]
    for tool in replaced.tools:
        k.browsers.webmcp.custom_tools.remove(tool.id, id_or_name=browser)
    assert k.browsers.webmcp.custom_tools.list(browser).tools == []
    with pytest.raises(BadRequestError, match="non-empty array"):
        k.browsers.webmcp.custom_tools.add(browser, namespace="shop", source="[]")
    with pytest.raises(BadRequestError, match="url_patterns"):
        k.browsers.webmcp.custom_tools.add(browser, namespace="shop",
                                           source="[{name: 'x', description: '', execute() {}}]")
    with pytest.raises(NotFoundError):
        k.browsers.webmcp.custom_tools.remove("cust_none", id_or_name=browser)
