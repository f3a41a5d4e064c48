"""Request builders for attachments, machines, pools, workflows and health (pure, no I/O)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel
from typing_extensions import TypedDict, Unpack

from cyberdesk_core._paging import PageCalls
from cyberdesk_core._request import (
    Call,
    OptionSet,
    RequestSpec,
    build_params,
    check_expires_in,
    checked_options,
    compact_body,
    join_include,
    json_parser,
    list_parser,
    model_parser,
    none_parser,
)
from cyberdesk_core._run_endpoints import check_page, segment
from cyberdesk_core.errors import ConfigurationError
from cyberdesk_core.models import (
    AttachmentType,
    DownloadUrl,
    Machine,
    Page,
    Pool,
    PoolWithMachines,
    RunAttachment,
    Workflow,
)
from cyberdesk_core.payloads import conceal

if TYPE_CHECKING:
    import httpx

__all__ = [
    "MACHINES",
    "POOLS",
    "SENSITIVE_FIELDS",
    "WORKFLOWS",
    "AttachmentCreateOptions",
    "AttachmentFilters",
    "MachineFilters",
    "PoolFilters",
    "ResourceKind",
    "WorkflowFilters",
    "attachment_create",
    "attachment_delete",
    "attachment_download",
    "attachment_download_url",
    "attachment_get",
    "attachment_list",
    "attachment_pages",
    "health",
    "machine_pools",
    "machine_update_pools",
    "pool_add_machines",
    "pool_remove_machines",
    "resource_create",
    "resource_delete",
    "resource_get",
    "resource_list",
    "resource_update",
]

# Body fields holding plaintext secrets; concealed until the request is sent.
SENSITIVE_FIELDS = frozenset({"machine_sensitive_parameters", "pool_sensitive_parameters"})

L = TypeVar("L", bound=BaseModel)
S = TypeVar("S", bound=BaseModel)


class MachineFilters(TypedDict, total=False):
    """Filters of `machines.list` (query parameters, sent in this order)."""

    search: str | None
    name: str | None
    status: str | None
    created_at_from: datetime | None
    created_at_to: datetime | None
    include: str | Iterable[str] | None


class PoolFilters(TypedDict, total=False):
    """Filters of `pools.list`."""

    include: str | Iterable[str] | None


class WorkflowFilters(TypedDict, total=False):
    """Filters of `workflows.list` (query parameters, sent in this order)."""

    search: str | None
    created_at_from: datetime | None
    created_at_to: datetime | None
    updated_at_from: datetime | None
    updated_at_to: datetime | None
    tag_ids: Sequence[str] | None
    include: str | Iterable[str] | None


class AttachmentFilters(TypedDict, total=False):
    """Filters of `run_attachments.list` and `run_attachments.iter`."""

    run_id: str | None
    attachment_type: AttachmentType | str | None


class _AttachmentContent(TypedDict):
    filename: str
    content: bytes
    content_type: str
    attachment_type: AttachmentType | str


class AttachmentCreateOptions(_AttachmentContent, total=False):
    """Keyword options of `run_attachments.create` (the four content fields are required)."""

    target_path: str | None
    cleanup_imports_after_run: bool | None
    expires_at: datetime | None
    idempotency_key: str | None


@dataclass(frozen=True)
class ResourceKind(Generic[L, S]):
    """A CRUD resource: its path, the model of list items/writes and of single-object GETs,
    and the TypedDict of its list filters."""

    name: str
    path: str
    item_model: type[L]
    detail_model: type[S]
    filters: OptionSet


MACHINES = ResourceKind("machine", "/v1/machines", Machine, Machine, MachineFilters)
POOLS = ResourceKind("pool", "/v1/pools", Pool, PoolWithMachines, PoolFilters)
WORKFLOWS = ResourceKind("workflow", "/v1/workflows", Workflow, Workflow, WorkflowFilters)


def page_model(item: type[L]) -> type[Page[L]]:
    """`Page[item]` for a model only known at run time."""
    return Page[item]  # type: ignore[valid-type]


def _body(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: conceal(v) if k in SENSITIVE_FIELDS and v is not None else v for k, v in fields.items()
    }


def resource_list(
    kind: ResourceKind[L, S], *, skip: int, limit: int, **filters: Any
) -> Call[Page[L]]:
    """GET the collection with `kind.filters` (None dropped, booleans as true/false)."""
    query = checked_options(filters, kind.filters, f"{kind.name}s.list")
    check_page(skip, limit)
    if "include" in query:
        query["include"] = join_include(query["include"])
    if isinstance(query.get("tag_ids"), list | tuple):
        query["tag_ids"] = ",".join(query["tag_ids"])
    params = build_params(**query, skip=skip, limit=limit)
    return Call(
        RequestSpec("GET", kind.path, params=params), model_parser(page_model(kind.item_model))
    )


def _item_path(kind: ResourceKind[L, S], ident: str) -> str:
    return f"{kind.path}/{segment(ident, f'{kind.name}_id')}"


def resource_get(
    kind: ResourceKind[L, S], ident: str, *, include: str | Iterable[str] | None = None
) -> Call[S]:
    """GET one object."""
    spec = RequestSpec(
        "GET",
        _item_path(kind, ident),
        params=build_params(include=join_include(include)),
        resource=(kind.name, str(ident)),
    )
    return Call(spec, model_parser(kind.detail_model))


def resource_create(
    kind: ResourceKind[L, S], fields: Mapping[str, Any], idempotency_key: str | None = None
) -> Call[L]:
    """POST a new object; None-valued fields are omitted."""
    spec = RequestSpec(
        "POST", kind.path, json=_body(compact_body(fields)), idempotency_key=idempotency_key
    )
    return Call(spec, model_parser(kind.item_model))


def resource_update(kind: ResourceKind[L, S], ident: str, fields: Mapping[str, Any]) -> Call[L]:
    """PATCH given fields only; explicit None is sent as null."""
    if not fields:
        raise ConfigurationError(f"{kind.name}s.update needs at least one field to change.")
    spec = RequestSpec(
        "PATCH", _item_path(kind, ident), json=_body(fields), resource=(kind.name, str(ident))
    )
    return Call(spec, model_parser(kind.item_model))


def resource_delete(kind: ResourceKind[L, S], ident: str) -> Call[None]:
    """DELETE one object."""
    spec = RequestSpec("DELETE", _item_path(kind, ident), resource=(kind.name, str(ident)))
    return Call(spec, none_parser)


def _id_list(values: Sequence[str], field: str) -> list[str]:
    if isinstance(values, str) or not values:
        raise ConfigurationError(f"{field} must be a non-empty list of ids.")
    return [str(v) for v in values]


def machine_pools(machine_id: str) -> Call[list[Pool]]:
    """GET /v1/machines/{id}/pools (bare array)."""
    spec = RequestSpec(
        "GET",
        f"/v1/machines/{segment(machine_id, 'machine_id')}/pools",
        resource=("machine", str(machine_id)),
    )
    return Call(spec, list_parser(Pool))


def machine_update_pools(machine_id: str, pool_ids: Sequence[str]) -> Call[Machine]:
    """PUT /v1/machines/{id}/pools: replaces all memberships (an empty list clears them)."""
    if isinstance(pool_ids, str):
        raise ConfigurationError("pool_ids must be a list of ids, not a single string.")
    spec = RequestSpec(
        "PUT",
        f"/v1/machines/{segment(machine_id, 'machine_id')}/pools",
        json={"pool_ids": [str(p) for p in pool_ids]},
        resource=("machine", str(machine_id)),
    )
    return Call(spec, model_parser(Machine))


def _pool_machines_spec(method: str, pool_id: str, machine_ids: Sequence[str]) -> RequestSpec:
    return RequestSpec(
        method,
        f"/v1/pools/{segment(pool_id, 'pool_id')}/machines",
        json={"machine_ids": _id_list(machine_ids, "machine_ids")},
        resource=("pool", str(pool_id)),
    )


def pool_add_machines(pool_id: str, machine_ids: Sequence[str]) -> Call[PoolWithMachines]:
    """POST /v1/pools/{id}/machines."""
    return Call(_pool_machines_spec("POST", pool_id, machine_ids), model_parser(PoolWithMachines))


def pool_remove_machines(pool_id: str, machine_ids: Sequence[str]) -> Call[None]:
    """DELETE /v1/pools/{id}/machines (JSON body)."""
    return Call(_pool_machines_spec("DELETE", pool_id, machine_ids), none_parser)


def attachment_list(
    *, skip: int = 0, limit: int = 100, **filters: Unpack[AttachmentFilters]
) -> Call[Page[RunAttachment]]:
    """GET /v1/run-attachments."""
    query = checked_options(filters, AttachmentFilters, "run_attachments.list")
    check_page(skip, limit)
    params = build_params(**query, skip=skip, limit=limit)
    return Call(
        RequestSpec("GET", "/v1/run-attachments", params=params),
        model_parser(Page[RunAttachment]),
    )


def attachment_pages(**filters: Unpack[AttachmentFilters]) -> PageCalls[RunAttachment]:
    """The `attachment_list` call of each page for `run_attachments.iter` (filters checked now)."""
    checked_options(filters, AttachmentFilters, "run_attachments.iter")
    return lambda skip, limit: attachment_list(skip=skip, limit=limit, **filters)


def _attachment_path(attachment_id: str, suffix: str = "") -> str:
    return f"/v1/run-attachments/{segment(attachment_id, 'attachment_id')}{suffix}"


def attachment_get(attachment_id: str) -> Call[RunAttachment]:
    """GET /v1/run-attachments/{id} (metadata only)."""
    spec = RequestSpec(
        "GET", _attachment_path(attachment_id), resource=("attachment", str(attachment_id))
    )
    return Call(spec, model_parser(RunAttachment))


def attachment_download(attachment_id: str) -> RequestSpec:
    """GET /v1/run-attachments/{id}/download (raw bytes, streamed by the caller)."""
    return RequestSpec(
        "GET",
        _attachment_path(attachment_id, "/download"),
        resource=("attachment", str(attachment_id)),
        raw_bytes=True,
    )


def _download_url_parser(
    now: Callable[[], datetime],
) -> Callable[[httpx.Response], DownloadUrl]:
    parse = model_parser(DownloadUrl)

    def parse_url(response: httpx.Response) -> DownloadUrl:
        result = parse(response)
        if result.expires_at is None:
            # The API returns only `expires_in`; the absolute time is what callers store.
            result.expires_at = now() + timedelta(seconds=result.expires_in)
        return result

    return parse_url


def attachment_download_url(
    attachment_id: str, *, expires_in: int = 300, now: Callable[[], datetime] | None = None
) -> Call[DownloadUrl]:
    """GET /v1/run-attachments/{id}/download-url (signed URL valid 10..3600 s)."""
    check_expires_in(expires_in)
    spec = RequestSpec(
        "GET",
        _attachment_path(attachment_id, "/download-url"),
        params=build_params(expires_in=expires_in),
        resource=("attachment", str(attachment_id)),
    )
    return Call(spec, _download_url_parser(now or (lambda: datetime.now(timezone.utc))))


def attachment_create(
    run_id: str, **options: Unpack[AttachmentCreateOptions]
) -> Call[RunAttachment]:
    """POST /v1/run-attachments (content is base64-encoded for you)."""
    fields = checked_options(options, AttachmentCreateOptions, "run_attachments.create")
    segment(run_id, "run_id")
    if not isinstance(fields["content"], bytes | bytearray):
        raise ConfigurationError("content must be bytes.")
    fields["content"] = base64.b64encode(bytes(fields["content"])).decode("ascii")
    idempotency_key = fields.pop("idempotency_key", None)
    body = compact_body({"run_id": str(run_id), **fields})
    spec = RequestSpec("POST", "/v1/run-attachments", json=body, idempotency_key=idempotency_key)
    return Call(spec, model_parser(RunAttachment))


def attachment_delete(attachment_id: str) -> Call[None]:
    """DELETE /v1/run-attachments/{id}."""
    spec = RequestSpec(
        "DELETE", _attachment_path(attachment_id), resource=("attachment", str(attachment_id))
    )
    return Call(spec, none_parser)


def health() -> Call[dict[str, Any]]:
    """GET /v1/health (no auth needed)."""
    return Call(RequestSpec("GET", "/v1/health"), json_parser)
