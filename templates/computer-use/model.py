"""The model the agent asks for its next step, over HTTP (Anthropic's Messages API shape).

Only ``httpx`` is needed. ``MODEL_BASE_URL`` points it at any server that speaks the
same API (a proxy, a gateway, or the scripted server the tests run on loopback).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MODEL = "claude-sonnet-4-5"
#: The computer tool version and the beta flag that enables it.
COMPUTER_TOOL = "computer_20250124"
COMPUTER_BETA = "computer-use-2025-01-24"


@dataclass
class Model:
    api_key: str
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    max_tokens: int = 2048
    timeout_s: float = 120.0
    client: httpx.AsyncClient = field(default_factory=httpx.AsyncClient, repr=False)

    @classmethod
    def from_env(cls) -> Model:
        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise ValueError("ANTHROPIC_API_KEY is not set (see .env.example)")
        return cls(api_key=key, base_url=os.environ.get("MODEL_BASE_URL", DEFAULT_BASE_URL),
                   model=os.environ.get("MODEL", DEFAULT_MODEL))

    async def next_turn(self, system: str, messages: list[dict[str, Any]],
                        display: tuple[int, int]) -> dict[str, Any]:
        """One model turn: its ``content`` blocks and ``stop_reason``."""
        response = await self.client.post(
            f"{self.base_url.rstrip('/')}/v1/messages",
            headers={"x-api-key": self.api_key, "anthropic-version": "2023-06-01",
                     "anthropic-beta": COMPUTER_BETA, "content-type": "application/json"},
            json={
                "model": self.model, "max_tokens": self.max_tokens, "system": system,
                "messages": messages,
                "tools": [{"type": COMPUTER_TOOL, "name": "computer",
                           "display_width_px": display[0], "display_height_px": display[1]}],
            },
            timeout=self.timeout_s,
        )
        if response.status_code != 200:
            raise RuntimeError(f"the model answered {response.status_code}: "
                               f"{response.text[:500]}")
        return response.json()

    async def aclose(self) -> None:
        await self.client.aclose()
