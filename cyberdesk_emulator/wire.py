"""Serialisation of records into the JSON shapes of the Cyberdesk API."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .state import Attachment, Machine, Pool, Run, Store, Workflow

BASE_RUN_FIELDS = ("id", "workflow_id", "machine_id", "status", "created_at")
STORAGE_PREFIX = "emulator://run-attachments"


def iso(value: datetime | None) -> str | None:
    """ISO-8601 with a ``Z`` suffix (UTC)."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def run_wire(run: Run) -> dict[str, Any]:
    """Full ``RunResponse`` object."""
    return {
        "id": run.id,
        "workflow_id": run.workflow_id,
        "machine_id": run.machine_id,
        "status": run.status.value,
        "created_at": iso(run.created_at),
        "user_id": None,
        "organization_id": run.org_id,
        "is_priority": run.is_priority,
        "error": list(run.error) if run.error is not None else None,
        "output_data": run.output_data,
        "input_attachment_ids": list(run.input_attachment_ids),
        "output_attachment_ids": list(run.output_attachment_ids),
        "run_message_history": run.run_message_history,
        "input_values": run.input_values,
        "main_prompt": run.main_prompt,
        "model_metadata": run.model_metadata,
        "pool_ids": list(run.pool_ids) if run.pool_ids is not None else None,
        "sensitive_input_aliases": dict(run.sensitive_input_aliases)
        if run.sensitive_input_aliases is not None
        else None,
        "usage_metadata": run.usage_metadata,
        "post_run_checks": run.post_run_checks,
        "session_id": run.session_id,
        "session_alias": run.session_alias,
        "release_session_after": run.release_session_after,
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at),
    }


def project_run(run: Run, fields: Iterable[str] | None) -> dict[str, Any]:
    """Run object restricted to the base fields plus ``fields`` (all fields when None)."""
    full = run_wire(run)
    if fields is None:
        return full
    keep = set(BASE_RUN_FIELDS) | set(fields)
    return {k: v for k, v in full.items() if k in keep}


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
        "size_bytes": len(att.data),
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
