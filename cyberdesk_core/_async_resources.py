"""Asyncio resource groups: thin wrappers that send the pure request builders' calls."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

import httpx
from typing_extensions import Unpack

from cyberdesk_core import _insight_endpoints as insight_endpoints
from cyberdesk_core import _resource_endpoints as resource_endpoints
from cyberdesk_core._client_base import Group
from cyberdesk_core._paging import aiter_pages
from cyberdesk_core.attachments import (
    CHUNK_SIZE,
    Destination,
    DownloadSink,
    UniqueNames,
    content_length,
)
from cyberdesk_core.errors import CyberdeskError
from cyberdesk_core.models import (
    DownloadResult,
    DownloadUrl,
    Machine,
    Page,
    Pool,
    PoolWithMachines,
    RunAttachment,
    Workflow,
)
from cyberdesk_core.transport import AsyncTransport, connection_error
from cyberdesk_core.usage import UsageAggregate, UsageMode

__all__ = ["AsyncGroup", "Machines", "Pools", "RunAttachments", "Usage", "Workflows"]


# Base of the asyncio groups (`client.runs` too).
AsyncGroup = Group[AsyncTransport]


class RunAttachments(AsyncGroup):
    """`client.run_attachments`: list, inspect, download and create run files."""

    async def list(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        **filters: Unpack[resource_endpoints.AttachmentFilters],
    ) -> Page[RunAttachment]:
        """One page of attachments."""
        return await self._transport.call(
            resource_endpoints.attachment_list(skip=skip, limit=limit, **filters)
        )

    def iter(
        self, *, page_size: int = 1000, **filters: Unpack[resource_endpoints.AttachmentFilters]
    ) -> AsyncIterator[RunAttachment]:
        """Every matching attachment, page by page."""
        return aiter_pages(
            self._transport.call, resource_endpoints.attachment_pages(**filters), page_size
        )

    async def get(self, attachment_id: str) -> RunAttachment:
        """Attachment metadata."""
        return await self._transport.call(resource_endpoints.attachment_get(attachment_id))

    async def download(
        self, attachment_id: str, destination: Destination, *, names: UniqueNames | None = None
    ) -> DownloadResult:
        """Stream an attachment to a file path, an existing directory or a binary file object.

        Into a directory the file gets the server's name made safe and unique there (and
        among `names`, shared by the files of one batch); a file path is replaced whole. The
        body is verified against the advertised size; see `cyberdesk_core.attachments`.
        """
        attachment = await self.get(attachment_id)
        failure: CyberdeskError | None = None
        with DownloadSink(attachment, destination, names=names) as sink:
            spec = resource_endpoints.attachment_download(attachment_id)
            async with self._transport.stream(spec) as response:
                sink.start(content_length(response.headers))
                try:
                    async for chunk in response.aiter_bytes(CHUNK_SIZE):
                        sink.write(chunk)
                except httpx.RequestError as exc:
                    failure = connection_error(spec, str(response.request.url), exc, 1)
                if failure is None:
                    return sink.commit(content_length(response.headers))
            raise failure

    async def get_download_url(self, attachment_id: str, *, expires_in: int = 300) -> DownloadUrl:
        """A signed URL (valid `expires_in` seconds) that downloads without the API key."""
        return await self._transport.call(
            resource_endpoints.attachment_download_url(attachment_id, expires_in=expires_in)
        )

    async def create(
        self, run_id: str, **options: Unpack[resource_endpoints.AttachmentCreateOptions]
    ) -> RunAttachment:
        """Upload a file as an attachment of `run_id`."""
        return await self._transport.call(resource_endpoints.attachment_create(run_id, **options))

    async def delete(self, attachment_id: str) -> None:
        """Delete an attachment and its stored file."""
        await self._transport.call(resource_endpoints.attachment_delete(attachment_id))


class Machines(AsyncGroup):
    """`client.machines`."""

    async def list(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        **filters: Unpack[resource_endpoints.MachineFilters],
    ) -> Page[Machine]:
        """One page of machines."""
        return await self._transport.call(
            resource_endpoints.resource_list(
                resource_endpoints.MACHINES, skip=skip, limit=limit, **filters
            )
        )

    async def get(self, machine_id: str, *, include: str | Iterable[str] | None = None) -> Machine:
        """One machine."""
        return await self._transport.call(
            resource_endpoints.resource_get(
                resource_endpoints.MACHINES, machine_id, include=include
            )
        )

    async def create(self, *, fingerprint: str, unkey_key_id: str, **fields: Any) -> Machine:
        """Register a machine (normally done by Cyberdriver)."""
        body = {"fingerprint": fingerprint, "unkey_key_id": unkey_key_id, **fields}
        return await self._transport.call(
            resource_endpoints.resource_create(resource_endpoints.MACHINES, body)
        )

    async def update(self, machine_id: str, **fields: Any) -> Machine:
        """PATCH the given fields (None is sent as null)."""
        return await self._transport.call(
            resource_endpoints.resource_update(resource_endpoints.MACHINES, machine_id, fields)
        )

    async def delete(self, machine_id: str) -> None:
        """Delete a machine (its runs keep existing with machine_id null)."""
        await self._transport.call(
            resource_endpoints.resource_delete(resource_endpoints.MACHINES, machine_id)
        )

    async def get_pools(self, machine_id: str) -> builtins.list[Pool]:
        """Pools the machine belongs to."""
        return await self._transport.call(resource_endpoints.machine_pools(machine_id))

    async def update_pools(self, machine_id: str, pool_ids: Sequence[str]) -> Machine:
        """Replace the machine's pool memberships."""
        return await self._transport.call(
            resource_endpoints.machine_update_pools(machine_id, pool_ids)
        )

    async def clear_session(self, machine_id: str) -> Machine:
        """Release the machine's session (cancels its scheduling/running session runs)."""
        return await self.update(machine_id, reserved_session_id=None)


class Pools(AsyncGroup):
    """`client.pools`."""

    async def list(
        self, *, include: str | Iterable[str] | None = None, skip: int = 0, limit: int = 100
    ) -> Page[Pool]:
        """One page of pools."""
        return await self._transport.call(
            resource_endpoints.resource_list(
                resource_endpoints.POOLS, include=include, skip=skip, limit=limit
            )
        )

    async def get(
        self, pool_id: str, *, include: str | Iterable[str] | None = None
    ) -> PoolWithMachines:
        """One pool (with machines when `include="machines"`)."""
        return await self._transport.call(
            resource_endpoints.resource_get(resource_endpoints.POOLS, pool_id, include=include)
        )

    async def create(self, name: str, **fields: Any) -> Pool:
        """Create a pool."""
        return await self._transport.call(
            resource_endpoints.resource_create(resource_endpoints.POOLS, {"name": name, **fields})
        )

    async def update(self, pool_id: str, **fields: Any) -> Pool:
        """PATCH the given fields (None is sent as null)."""
        return await self._transport.call(
            resource_endpoints.resource_update(resource_endpoints.POOLS, pool_id, fields)
        )

    async def delete(self, pool_id: str) -> None:
        """Delete a pool (machines stay)."""
        await self._transport.call(
            resource_endpoints.resource_delete(resource_endpoints.POOLS, pool_id)
        )

    async def add_machines(self, pool_id: str, machine_ids: Sequence[str]) -> PoolWithMachines:
        """Add machines to a pool."""
        return await self._transport.call(
            resource_endpoints.pool_add_machines(pool_id, machine_ids)
        )

    async def remove_machines(self, pool_id: str, machine_ids: Sequence[str]) -> None:
        """Remove machines from a pool."""
        await self._transport.call(resource_endpoints.pool_remove_machines(pool_id, machine_ids))


class Workflows(AsyncGroup):
    """`client.workflows`."""

    async def list(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        **filters: Unpack[resource_endpoints.WorkflowFilters],
    ) -> Page[Workflow]:
        """One page of workflows (newest update first)."""
        return await self._transport.call(
            resource_endpoints.resource_list(
                resource_endpoints.WORKFLOWS, skip=skip, limit=limit, **filters
            )
        )

    async def get(
        self, workflow_id: str, *, include: str | Iterable[str] | None = None
    ) -> Workflow:
        """One workflow."""
        return await self._transport.call(
            resource_endpoints.resource_get(
                resource_endpoints.WORKFLOWS, workflow_id, include=include
            )
        )

    async def create(self, main_prompt: str, **fields: Any) -> Workflow:
        """Create a workflow."""
        body = {"main_prompt": main_prompt, **fields}
        return await self._transport.call(
            resource_endpoints.resource_create(resource_endpoints.WORKFLOWS, body)
        )

    async def update(self, workflow_id: str, **fields: Any) -> Workflow:
        """PATCH the given fields (None is sent as null)."""
        return await self._transport.call(
            resource_endpoints.resource_update(resource_endpoints.WORKFLOWS, workflow_id, fields)
        )

    async def delete(self, workflow_id: str) -> None:
        """Delete a workflow and all its runs."""
        await self._transport.call(
            resource_endpoints.resource_delete(resource_endpoints.WORKFLOWS, workflow_id)
        )


class Usage(AsyncGroup):
    """`client.usage`: the organization's agent steps over a period."""

    async def aggregate(
        self, from_date: datetime, to_date: datetime, *, mode: UsageMode | str | None = None
    ) -> UsageAggregate:
        """Agentic and cached steps of the runs created in [from_date, to_date] (`mode`:
        `simulated`, every step, or `billed`; the server's default when None)."""
        return await self._transport.call(
            insight_endpoints.usage_aggregate(from_date, to_date, mode=mode)
        )
