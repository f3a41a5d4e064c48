"""Serialisation of records into the JSON shapes of the Cyberdesk API."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from .state import Attachment, Machine, Pool, Run, Store, Workflow

BASE_RUN_FIELDS = ("id", "workflow_id", "machine_id", "status", "created_at")
STORAGE_PREFIX = "emulator://run-attachments"


@functools.lru_cache(maxsize=1 << 14)
def iso(value: datetime | None) -> str | None:
    """ISO-8601 with a ``Z`` suffix (UTC).

    Cached: a list page of 1,000 runs formats 3,000 timestamps, most of them the same ones
    on every poll (a datetime is immutable, so its text never changes).
    """
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def _copy(value: Any) -> Any:
    return list(value) if value is not None else None


# One getter per ``RunResponse`` field, in wire order: a projection computes only its fields.
_RUN_FIELDS: dict[str, Callable[[Run], Any]] = {
    "id": lambda r: r.id,
    "workflow_id": lambda r: r.workflow_id,
    "machine_id": lambda r: r.machine_id,
    "status": lambda r: r.status.value,
    "created_at": lambda r: iso(r.created_at),
    "user_id": lambda r: None,
    "organization_id": lambda r: r.org_id,
    "is_priority": lambda r: r.is_priority,
    "error": lambda r: _copy(r.error),
    "output_data": lambda r: r.output_data,
    "input_attachment_ids": lambda r: list(r.input_attachment_ids),
    "output_attachment_ids": lambda r: list(r.output_attachment_ids),
    "run_message_history": lambda r: r.run_message_history,
    "input_values": lambda r: r.input_values,
    "main_prompt": lambda r: r.main_prompt,
    "model_metadata": lambda r: r.model_metadata,
    "pool_ids": lambda r: _copy(r.pool_ids),
    "sensitive_input_aliases": lambda r: (
        dict(r.sensitive_input_aliases) if r.sensitive_input_aliases is not None else None
    ),
    "usage_metadata": lambda r: r.usage_metadata,
    "post_run_checks": lambda r: r.post_run_checks,
    "session_id": lambda r: r.session_id,
    "session_alias": lambda r: r.session_alias,
    "release_session_after": lambda r: r.release_session_after,
    "started_at": lambda r: iso(r.started_at),
    "ended_at": lambda r: iso(r.ended_at),
}


def run_wire(run: Run) -> dict[str, Any]:
    """Full ``RunResponse`` object."""
    return {key: get(run) for key, get in _RUN_FIELDS.items()}


def run_projector(fields: Iterable[str] | None) -> Callable[[Run], dict[str, Any]]:
    """Serialiser of run objects restricted to the base fields plus ``fields`` (all if None)."""
    if fields is None:
        return run_wire
    keep = set(BASE_RUN_FIELDS) | set(fields)
    getters = [(key, get) for key, get in _RUN_FIELDS.items() if key in keep]
    return lambda run: {key: get(run) for key, get in getters}


def pool_wire(pool: Pool) -> dict[str, Any]:
    """``PoolResponse`` object."""
    return {
        "id": pool.id,
        "organization_id": pool.org_id,
        "name": pool.name,
        "description": pool.description,
        "pool_parameters": pool.parameters,
        "pool_sensitive_parameters": dict(pool.sensitive_aliases)
        if pool.sensitive_aliases is not None
        else None,
        "machine_count": len(pool.machine_ids),
        "created_at": iso(pool.created_at),
        "updated_at": iso(pool.updated_at),
    }


def machine_wire(machine: Machine, store: Store, *, with_pools: bool = True) -> dict[str, Any]:
    """``MachineResponse`` object; ``is_available`` is false while a run holds the machine."""
    body: dict[str, Any] = {
        "id": machine.id,
        "unkey_key_id": machine.unkey_key_id,
        "status": machine.status,
        "is_available": machine.is_available and machine.busy_run_id is None,
        "alerts_enabled": machine.alerts_enabled,
        "created_at": iso(machine.created_at),
        "last_seen": iso(machine.last_seen),
        "name": machine.fields.get("name"),
        "version": machine.fields.get("version"),
        "hostname": machine.fields.get("hostname"),
        "os_info": machine.fields.get("os_info"),
        "machine_parameters": machine.parameters,
        "machine_sensitive_parameters": dict(machine.sensitive_aliases)
        if machine.sensitive_aliases is not None
        else None,
        "user_id": None,
        "organization_id": machine.org_id,
        "reserved_session_id": machine.reserved_session_id,
        "linked_keepalive_machine_id": None,
        "physical_server_id": "emulator" if machine.status == "connected" else None,
    }
    if with_pools:
        body["pools"] = [pool_wire(p) for p in machine_pools(machine, store)]
    return body


def machine_pools(machine: Machine, store: Store) -> list[Pool]:
    """Pools a machine belongs to, oldest first."""
    pools = [store.pools[p] for p in machine.pool_ids if p in store.pools]
    return sorted(pools, key=lambda p: p.created_at)


def pool_machines(pool: Pool, store: Store) -> list[Machine]:
    """Machines of a pool, oldest first."""
    machines = [store.machines[m] for m in pool.machine_ids if m in store.machines]
    return sorted(machines, key=lambda m: m.created_at)


def workflow_wire(workflow: Workflow) -> dict[str, Any]:
    """``WorkflowResponse`` object."""
    body: dict[str, Any] = {
        "id": workflow.id,
        "main_prompt": workflow.main_prompt,
        "created_at": iso(workflow.created_at),
        "updated_at": iso(workflow.updated_at),
        "user_id": None,
        "organization_id": workflow.org_id,
        "includes_input_variables": "{" in workflow.main_prompt,
        "old_versions": list(workflow.old_versions),
    }
    for key in (
        "name",
        "input_schema",
        "output_schema",
        "terminal_command_allowlist",
        "model_metadata",
        "post_run_check_failure_cleanup_prompt",
        "workflow_metadata",
        "post_run_checks",
    ):
        body[key] = workflow.fields.get(key)
    body["includes_file_exports"] = bool(workflow.fields.get("includes_file_exports", False))
    body["is_webhooks_enabled"] = bool(workflow.fields.get("is_webhooks_enabled", False))
    body["tags"] = []
    return body


def attachment_wire(att: Attachment) -> dict[str, Any]:
    """``RunAttachmentResponse`` object."""
    return {
        "id": att.id,
        "run_id": att.run_id,
        "filename": att.filename,
        "content_type": att.content_type,
        "attachment_type": att.attachment_type,
        "size_bytes": att.blob.size,
        "storage_path": f"{STORAGE_PREFIX}/{att.run_id}/{att.id}",
        "created_at": iso(att.created_at),
        "target_path": att.target_path,
        "cleanup_imports_after_run": att.cleanup_imports_after_run,
        "user_id": None,
        "organization_id": att.org_id,
        "expires_at": iso(att.expires_at),
    }


def included(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """An ``IncludedResource`` element."""
    return {"type": kind, **body}


def page(
    items: list[dict[str, Any]],
    total: int,
    skip: int,
    limit: int,
    included_items: list[dict[str, Any]] | None = None,
    *,
    with_included: bool = True,
) -> dict[str, Any]:
    """Pagination envelope ``{items, total, skip, limit[, included]}``."""
    body: dict[str, Any] = {"items": items, "total": total, "skip": skip, "limit": limit}
    if with_included:
        body["included"] = included_items
    return body
