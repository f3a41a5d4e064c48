"""``run_complete`` webhook deliveries (Svix v1 signed) from background tasks."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import deque
from typing import Any

import httpx

from .signing import svix_headers
from .state import Organization, utcnow
from .wire import iso

logger = logging.getLogger("cyberdesk_emulator")

RETRY_DELAYS = (0.0, 0.2, 1.0)


class WebhookDispatcher:
    """Posts signed events to an organization's endpoints; keeps a bounded delivery log."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=1000)

    def emit_run_complete(self, org: Organization, run: dict[str, Any]) -> None:
        """Queue one ``run_complete`` event per subscribed endpoint (never blocks)."""
        targets = [ep for ep in org.webhooks if "run_complete" in ep.event_types]
        if not targets:
            return
        event_id = str(uuid.uuid4())
        event = {
            "event_id": event_id,
            "event_type": "run_complete",
            "occurred_at": iso(utcnow()),
            "run": run,
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        for endpoint in targets:
            task = asyncio.get_running_loop().create_task(
                self._deliver(endpoint.url, endpoint.secret, event_id, str(run["id"]), body)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self, url: str, secret: str, event_id: str, run_id: str, body: bytes
    ) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        msg_id = f"msg_{uuid.uuid4().hex}"
        record: dict[str, Any] = {
            "url": url,
            "event_id": event_id,
            "run_id": run_id,
            "svix_id": msg_id,
            "attempts": 0,
            "status_code": None,
            "delivered": False,
        }
        self.deliveries.append(record)
        try:
            svix_headers(secret, msg_id, body)
        except ValueError:  # binascii.Error too; seeds validate secrets, this is a backstop
            logger.warning("webhook endpoint has an unusable secret: delivery skipped")
            record["error"] = "invalid webhook secret"
            return
        for delay in RETRY_DELAYS:
            if delay:
                await asyncio.sleep(delay)
            record["attempts"] += 1
            try:
                headers = svix_headers(secret, msg_id, body)  # fresh timestamp per attempt
                response = await self._client.post(url, content=body, headers=headers)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                logger.info("webhook delivery to endpoint failed: %s", type(exc).__name__)
                continue
            record["status_code"] = response.status_code
            if response.is_success:
                record["delivered"] = True
                return

    async def aclose(self) -> None:
        """Cancel pending deliveries and close the HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
