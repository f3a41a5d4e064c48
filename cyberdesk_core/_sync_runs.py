"""Blocking `client.runs` group: thin wrappers that send the pure request builders' calls."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from cyberdesk_core import _run_endpoints as ep
from cyberdesk_core._paging import iter_pages
from cyberdesk_core.models import BulkCreateResult, ChainResult, ChainStep, Page, Run, RunStatus
from cyberdesk_core.transport import SyncTransport

__all__ = ["Runs"]


class _Group:
    """Holds the transport."""

    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport


class Runs(_Group):
    """`client.runs`: create, inspect, list, update, cancel, retry, bulk and chain runs."""

    def create(
        self,
        workflow_id: str,
        *,
        input_values: Mapping[str, Any] | None = None,
        sensitive_input_values: Mapping[str, Any] | None = None,
        file_inputs: Iterable[Any] | None = None,
        machine_id: str | None = None,
        pool_ids: Sequence[str] | None = None,
        session_id: str | None = None,
        start_session: bool | None = None,
        session_alias: str | None = None,
        release_session_after: bool | None = None,
        is_priority: bool | None = None,
        main_prompt: str | None = None,
        model_metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Start a run of `workflow_id` (always sent with an Idempotency-Key)."""
        return self._t.call(
            ep.create_run(
                workflow_id,
                input_values=input_values,
                sensitive_input_values=sensitive_input_values,
                file_inputs=file_inputs,
                machine_id=machine_id,
                pool_ids=pool_ids,
                session_id=session_id,
                start_session=start_session,
                session_alias=session_alias,
                release_session_after=release_session_after,
                is_priority=is_priority,
                main_prompt=main_prompt,
                model_metadata=model_metadata,
                idempotency_key=idempotency_key,
            )
        )

    def get(self, run_id: str, *, include: str | Iterable[str] | None = None) -> Run:
        """Fetch one run (full object)."""
        return self._t.call(ep.get_run(run_id, include=include))

    def list(
        self,
        *,
        workflow_id: str | None = None,
        machine_id: str | None = None,
        session_id: str | None = None,
        status: RunStatus | str | None = None,
        created_at_from: datetime | None = None,
        created_at_to: datetime | None = None,
        sort_mode: str | None = None,
        search: str | None = None,
        deep_search: bool | None = None,
        fields: Iterable[str] | None = None,
        include: str | Iterable[str] | None = None,
        skip: int = 0,
        limit: int = 100,
    ) -> Page[Run]:
        """One page of runs matching the filters."""
        return self._t.call(
            ep.list_runs(
                workflow_id=workflow_id,
                machine_id=machine_id,
                session_id=session_id,
                status=status,
                created_at_from=created_at_from,
                created_at_to=created_at_to,
                sort_mode=sort_mode,
                search=search,
                deep_search=deep_search,
                fields=fields,
                include=include,
                skip=skip,
                limit=limit,
            )
        )

    def iter(
        self,
        *,
        workflow_id: str | None = None,
        machine_id: str | None = None,
        session_id: str | None = None,
        status: RunStatus | str | None = None,
        created_at_from: datetime | None = None,
        created_at_to: datetime | None = None,
        sort_mode: str | None = None,
        search: str | None = None,
        deep_search: bool | None = None,
        fields: Iterable[str] | None = None,
        include: str | Iterable[str] | None = None,
        page_size: int = 1000,
    ) -> Iterator[Run]:
        """Every run matching the filters, fetched page by page."""
        fields = list(fields) if fields is not None else None

        def fetch(skip: int, limit: int) -> Page[Run]:
            return self.list(
                workflow_id=workflow_id,
                machine_id=machine_id,
                session_id=session_id,
                status=status,
                created_at_from=created_at_from,
                created_at_to=created_at_to,
                sort_mode=sort_mode,
                search=search,
                deep_search=deep_search,
                fields=fields,
                include=include,
                skip=skip,
                limit=limit,
            )

        return iter_pages(fetch, page_size)

    def update(self, run_id: str, **fields: Any) -> Run:
        """PATCH the given fields (None is sent as an explicit null)."""
        return self._t.call(ep.update_run(run_id, fields))

    def delete(self, run_id: str) -> None:
        """Delete a run and its attachments."""
        self._t.call(ep.delete_run(run_id))

    def cancel(self, run_id: str) -> Run:
        """Cancel a run (PATCH status=cancelled)."""
        return self._t.call(ep.cancel_run(run_id))

    def retry(
        self,
        run_id: str,
        *,
        input_values: Mapping[str, Any] | None = None,
        sensitive_input_values: Mapping[str, Any] | None = None,
        file_inputs: Iterable[Any] | None = None,
        machine_id: str | None = None,
        pool_ids: Sequence[str] | None = None,
        reuse_session: bool | None = None,
        session_id: str | None = None,
        start_session: bool | None = None,
        session_alias: str | None = None,
        release_session_after: bool | None = None,
        is_priority: bool | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Retry a terminal run in place (same id). Re-send secrets: they are not kept."""
        return self._t.call(
            ep.retry_run(
                run_id,
                input_values=input_values,
                sensitive_input_values=sensitive_input_values,
                file_inputs=file_inputs,
                machine_id=machine_id,
                pool_ids=pool_ids,
                reuse_session=reuse_session,
                session_id=session_id,
                start_session=start_session,
                session_alias=session_alias,
                release_session_after=release_session_after,
                is_priority=is_priority,
                idempotency_key=idempotency_key,
            )
        )

    def bulk_create(
        self,
        workflow_id: str,
        count: int,
        *,
        input_values: Mapping[str, Any] | None = None,
        sensitive_input_values: Mapping[str, Any] | None = None,
        file_inputs: Iterable[Any] | None = None,
        machine_id: str | None = None,
        pool_ids: Sequence[str] | None = None,
        session_id: str | None = None,
        start_session: bool | None = None,
        is_priority: bool | None = None,
        idempotency_key: str | None = None,
    ) -> BulkCreateResult:
        """Create `count` identical runs in one request."""
        return self._t.call(
            ep.bulk_create_run(
                workflow_id,
                count,
                input_values=input_values,
                sensitive_input_values=sensitive_input_values,
                file_inputs=file_inputs,
                machine_id=machine_id,
                pool_ids=pool_ids,
                session_id=session_id,
                start_session=start_session,
                is_priority=is_priority,
                idempotency_key=idempotency_key,
            )
        )

    def chain(
        self,
        steps: Sequence[ChainStep | Mapping[str, Any]],
        *,
        shared_inputs: Mapping[str, Any] | None = None,
        shared_sensitive_inputs: Mapping[str, Any] | None = None,
        shared_file_inputs: Iterable[Any] | None = None,
        keep_session_after_completion: bool | None = None,
        machine_id: str | None = None,
        pool_ids: Sequence[str] | None = None,
        session_id: str | None = None,
        is_priority: bool | None = None,
        idempotency_key: str | None = None,
    ) -> ChainResult:
        """Run `steps` one after another in one session."""
        return self._t.call(
            ep.chain_runs(
                steps,
                shared_inputs=shared_inputs,
                shared_sensitive_inputs=shared_sensitive_inputs,
                shared_file_inputs=shared_file_inputs,
                keep_session_after_completion=keep_session_after_completion,
                machine_id=machine_id,
                pool_ids=pool_ids,
                session_id=session_id,
                is_priority=is_priority,
                idempotency_key=idempotency_key,
            )
        )
