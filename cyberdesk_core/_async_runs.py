"""Asyncio `client.runs` group: thin wrappers that send the pure request builders' calls.

Option sets are declared once, as TypedDicts in `_run_endpoints`; type checkers and IDEs read
each method's keywords from them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from typing_extensions import Unpack

from cyberdesk_core import _insight_endpoints as insight_endpoints
from cyberdesk_core import _run_endpoints as run_endpoints
from cyberdesk_core._async_resources import AsyncGroup
from cyberdesk_core._paging import aiter_pages
from cyberdesk_core.history import ImageSignedUrl, Trajectory
from cyberdesk_core.models import BulkCreateResult, ChainResult, ChainStep, Page, Run
from cyberdesk_core.usage import RunLlmCosts

__all__ = ["Runs"]


class Runs(AsyncGroup):
    """`client.runs`: create, inspect, list, update, cancel, retry, bulk and chain runs; read
    their screenshots, trajectory and LLM costs."""

    async def create(
        self, workflow_id: str, **options: Unpack[run_endpoints.RunCreateOptions]
    ) -> Run:
        """Start a run of `workflow_id` (always sent with an Idempotency-Key)."""
        return await self._transport.call(run_endpoints.create_run(workflow_id, **options))

    async def get(self, run_id: str, *, include: str | Iterable[str] | None = None) -> Run:
        """Fetch one run (full object)."""
        return await self._transport.call(run_endpoints.get_run(run_id, include=include))

    async def list(
        self, *, skip: int = 0, limit: int = 100, **filters: Unpack[run_endpoints.RunListFilters]
    ) -> Page[Run]:
        """One page of runs matching the filters."""
        return await self._transport.call(
            run_endpoints.list_runs(skip=skip, limit=limit, **filters)
        )

    def iter(
        self, *, page_size: int = 1000, **filters: Unpack[run_endpoints.RunListFilters]
    ) -> AsyncIterator[Run]:
        """Every run matching the filters, fetched page by page."""
        return aiter_pages(self._transport.call, run_endpoints.run_pages(**filters), page_size)

    async def update(self, run_id: str, **fields: Any) -> Run:
        """PATCH the given fields (None is sent as an explicit null)."""
        return await self._transport.call(run_endpoints.update_run(run_id, fields))

    async def delete(self, run_id: str) -> None:
        """Delete a run and its attachments."""
        await self._transport.call(run_endpoints.delete_run(run_id))

    async def cancel(self, run_id: str) -> Run:
        """Cancel a run (PATCH status=cancelled)."""
        return await self._transport.call(run_endpoints.cancel_run(run_id))

    async def retry(self, run_id: str, **options: Unpack[run_endpoints.RunRetryOptions]) -> Run:
        """Retry a terminal run in place (same id). Re-send secrets: they are not kept."""
        return await self._transport.call(run_endpoints.retry_run(run_id, **options))

    async def bulk_create(
        self, workflow_id: str, count: int, **options: Unpack[run_endpoints.BulkCreateOptions]
    ) -> BulkCreateResult:
        """Create `count` identical runs in one request."""
        return await self._transport.call(
            run_endpoints.bulk_create_run(workflow_id, count, **options)
        )

    async def chain(
        self,
        steps: Sequence[ChainStep | Mapping[str, Any]],
        **options: Unpack[run_endpoints.ChainOptions],
    ) -> ChainResult:
        """Run `steps` one after another in one session."""
        return await self._transport.call(run_endpoints.chain_runs(steps, **options))

    async def get_image_signed_url(
        self, run_id: str, image_url: str, *, expires_in: int = 3600
    ) -> ImageSignedUrl:
        """A signed HTTPS URL for a screenshot of the run's history (valid 10..3600 s)."""
        return await self._transport.call(
            insight_endpoints.image_signed_url(run_id, image_url, expires_in=expires_in)
        )

    async def trajectory(self, run_id: str) -> Trajectory:
        """The latest trajectory recorded from the run."""
        return await self._transport.call(insight_endpoints.run_trajectory(run_id))

    async def llm_costs(self, run_id: str) -> RunLlmCosts:
        """The run's LLM cost breakdown."""
        return await self._transport.call(insight_endpoints.run_llm_costs(run_id))
