"""{{app_name}}: open a page in a Kernel browser and return its title.

Locally, `kernel-actions dev` serves Kernel's browser API backed by a Chromium on this
machine; deployed, the same code uses Kernel's cloud browsers.
"""

from pydantic import BaseModel, Field

from kernel_actions import App, Context

app = App("{{app_name}}")


class PageTitleInput(BaseModel):
    url: str = Field(min_length=1, description="The page to open")


class PageTitleOutput(BaseModel):
    title: str


@app.action("get-page-title")
async def get_page_title(ctx: Context, payload: PageTitleInput) -> PageTitleOutput:
    """Open `url` in a browser and return the page's title."""
    from kernel import AsyncKernel  # imported here: tests of validation need neither
    from playwright.async_api import async_playwright

    kernel = AsyncKernel()
    browser = await kernel.browsers.create(invocation_id=ctx.invocation_id)
    try:
        async with async_playwright() as pw:
            chromium = await pw.chromium.connect_over_cdp(browser.cdp_ws_url)
            context = chromium.contexts[0] if chromium.contexts else await chromium.new_context()
            page = context.pages[0] if context.pages else await context.new_page()
            await page.goto(payload.url)
            title = await page.title()
            ctx.log(f"{payload.url}: {title}")
            return PageTitleOutput(title=title)
    finally:
        await kernel.browsers.delete_by_id(browser.session_id)
