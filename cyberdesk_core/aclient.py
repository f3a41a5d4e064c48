"""`AsyncCyberdeskClient`: the asyncio client (one pooled httpx.AsyncClient, resource groups)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pydantic import SecretStr

from cyberdesk_core import _resource_endpoints as resource_endpoints
from cyberdesk_core._async_resources import Machines, Pools, RunAttachments, Usage, Workflows
from cyberdesk_core._async_runs import Runs
from cyberdesk_core._client_base import AsyncClosing, ClientBase
from cyberdesk_core.transport import AsyncTransport, ClientConfig, RetryPolicy

__all__ = ["AsyncCyberdeskClient"]


class AsyncCyberdeskClient(ClientBase[AsyncTransport], AsyncClosing):
    """Asyncio Cyberdesk API client (same surface as `CyberdeskClient`, coroutines).

    `api_key` / `base_url` default to CYBERDESK_API_KEY / CYBERDESK_BASE_URL (base URL default
    https://api.cyberdesk.io). The key is sent over https, or plain http only to this machine
    (localhost, 127.0.0.0/8, ::1) unless `allow_insecure_http=True`.
    Use `async with` or call `await aclose()`.
    """

    def __init__(
        self,
        api_key: str | SecretStr | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rng: Callable[[], float] | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        config = ClientConfig.resolve(api_key, base_url, timeout, allow_insecure_http)
        policy = retry_policy or RetryPolicy(max_retries=max_retries)
        self._transport = AsyncTransport(config, policy, transport=transport, sleep=sleep, rng=rng)
        self.runs = Runs(self._transport)
        self.run_attachments = RunAttachments(self._transport)
        self.machines = Machines(self._transport)
        self.pools = Pools(self._transport)
        self.workflows = Workflows(self._transport)
        self.usage = Usage(self._transport)

    async def health(self) -> dict[str, Any]:
        """GET /v1/health."""
        return await self._transport.call(resource_endpoints.health())

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._transport.aclose()
