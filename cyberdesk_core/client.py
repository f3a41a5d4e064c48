"""`CyberdeskClient`: the blocking client (one pooled httpx.Client, resource groups)."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx
from pydantic import SecretStr

from cyberdesk_core import _resource_endpoints as resource_endpoints
from cyberdesk_core._client_base import ClientBase
from cyberdesk_core._sync_resources import Machines, Pools, RunAttachments, Usage, Workflows
from cyberdesk_core._sync_runs import Runs
from cyberdesk_core.transport import ClientConfig, RetryPolicy, SyncTransport

__all__ = ["CyberdeskClient"]


class CyberdeskClient(ClientBase[SyncTransport]):
    """Blocking Cyberdesk API client.

    `api_key` / `base_url` default to CYBERDESK_API_KEY / CYBERDESK_BASE_URL (base URL default
    https://api.cyberdesk.io). The key is sent over https, or plain http only to this machine
    (localhost, 127.0.0.0/8, ::1) unless `allow_insecure_http=True`.
    Use as a context manager or call `close()`.
    """

    def __init__(
        self,
        api_key: str | SecretStr | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: Callable[[], float] | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        config = ClientConfig.resolve(api_key, base_url, timeout, allow_insecure_http)
        policy = retry_policy or RetryPolicy(max_retries=max_retries)
        self._transport = SyncTransport(config, policy, transport=transport, sleep=sleep, rng=rng)
        self.runs = Runs(self._transport)
        self.run_attachments = RunAttachments(self._transport)
        self.machines = Machines(self._transport)
        self.pools = Pools(self._transport)
        self.workflows = Workflows(self._transport)
        self.usage = Usage(self._transport)

    def health(self) -> dict[str, Any]:
        """GET /v1/health."""
        return self._transport.call(resource_endpoints.health())

    def close(self) -> None:
        """Close pooled connections."""
        self._transport.close()

    def __enter__(self) -> CyberdeskClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
