"""Asyncio `client.runs` group: thin wrappers that send the pure request builders' calls.

Option sets are declared once, as TypedDicts in `_run_endpoints`; type checkers and IDEs read
each method's keywords from them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from typing_extensions import Unpack

from cyberdesk_core import _run_endpoints as ep
from cyberdesk_core._async_resources import AsyncGroup
from cyberdesk_core._paging import aiter_pages
from cyberdesk_core.models import BulkCreateResult, ChainResult, ChainStep, Page, Run

__all__ = ["Runs"]


class Runs(AsyncGroup):
    """`client.runs`: create, inspect, list, update, cancel, retry, bulk and chain runs."""

    async def create(self, workflow_id: str, **options: Unpack[ep.RunCreateOptions]) -> Run:
        """Start a run of `workflow_id` (always sent with an Idempotency-Key)."""
        return await self._t.call(ep.create_run(workflow_id, **options))

    async def get(self, run_id: str, *, include: str | Iterable[str] | None = None) -> Run:
        """Fetch one run (full object)."""
        return await self._t.call(ep.get_run(run_id, include=include))

    async def list(
        self, *, skip: int = 0, limit: int = 100, **filters: Unpack[ep.RunListFilters]
    ) -> Page[Run]:
        """One page of runs matching the filters."""
        return await self._t.call(ep.list_runs(skip=skip, limit=limit, **filters))

    def iter(
        self, *, page_size: int = 1000, **filters: Unpack[ep.RunListFilters]
    ) -> AsyncIterator[Run]:
        """Every run matching the filters, fetched page by page."""
        return aiter_pages(self._t.call, ep.run_pages(**filters), page_size)

    async def update(self, run_id: str, **fields: Any) -> Run:
        """PATCH the given fields (None is sent as an explicit null)."""
        return await self._t.call(ep.update_run(run_id, fields))

    async def delete(self, run_id: str) -> None:
        """Delete a run and its attachments."""
        await self._t.call(ep.delete_run(run_id))

    async def cancel(self, run_id: str) -> Run:
        """Cancel a run (PATCH status=cancelled)."""
        return await self._t.call(ep.cancel_run(run_id))

    async def retry(self, run_id: str, **options: Unpack[ep.RunRetryOptions]) -> Run:
        """Retry a terminal run in place (same id). Re-send secrets: they are not kept."""
        return await self._t.call(ep.retry_run(run_id, **options))

    async def bulk_create(
        self, workflow_id: str, count: int, **options: Unpack[ep.BulkCreateOptions]
    ) -> BulkCreateResult:
        """Create `count` identical runs in one request."""
        return await self._t.call(ep.bulk_create_run(workflow_id, count, **options))

    async def chain(
        self, steps: Sequence[ChainStep | Mapping[str, Any]], **options: Unpack[ep.ChainOptions]
    ) -> ChainResult:
        """Run `steps` one after another in one session."""
        return await self._t.call(ep.chain_runs(steps, **options))
