"""An app written with Kernel's official SDK, unchanged (as Kernel's templates are)."""

import asyncio
import os
from typing import TypedDict

import kernel
from kernel import KernelContext

app = kernel.App("sdk-app")


class PageTitleInput(TypedDict):
    url: str


class PageTitleOutput(TypedDict):
    title: str


@app.action("get-page-title")
async def get_page_title(ctx: KernelContext, input_data: PageTitleInput) -> PageTitleOutput:
    await asyncio.sleep(0)
    print(f"fetching {input_data['url']}")
    return {"title": f"title of {input_data['url']}"}


@app.action("whoami")
def whoami(ctx: KernelContext) -> dict:
    return {"invocation_id": ctx.invocation_id, "context_type": type(ctx).__name__,
            "relpath": os.environ.get("ENTRYPOINT_RELPATH")}


@app.action("nothing")
def nothing(ctx: KernelContext, payload: dict) -> dict:
    return {"got": payload}
