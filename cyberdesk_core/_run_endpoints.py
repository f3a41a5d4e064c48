"""Request builders for the `/v1/runs` endpoints (pure: no I/O, shared by both clients)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from cyberdesk_core._request import (
    Call,
    RequestSpec,
    build_params,
    compact_body,
    join_include,
    model_parser,
    none_parser,
)
from cyberdesk_core.errors import ConfigurationError
from cyberdesk_core.inputs import (
    normalize_file_inputs,
    validate_input_values,
    validate_sensitive_values,
)
from cyberdesk_core.models import BulkCreateResult, ChainResult, ChainStep, Page, Run, RunStatus
from cyberdesk_core.payloads import conceal

__all__ = [
    "bulk_create_run",
    "cancel_run",
    "chain_runs",
    "check_page",
    "create_run",
    "delete_run",
    "get_run",
    "list_runs",
    "retry_run",
    "segment",
    "update_run",
]

MAX_LIMIT = 1000


def segment(value: object, field: str) -> str:
    """A URL path segment from an id; rejects empty values and anything containing a slash."""
    text = str(value).strip() if value is not None else ""
    if not text or "/" in text:
        raise ConfigurationError(f"{field} must be a non-empty id, got {value!r}.")
    return quote(text, safe="")


def check_page(skip: int, limit: int) -> None:
    """Validate pagination arguments before sending."""
    if skip < 0:
        raise ConfigurationError(f"skip must be >= 0, got {skip}.")
    if not 1 <= limit <= MAX_LIMIT:
        raise ConfigurationError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")


def _secrets(values: Mapping[str, Any] | None, field: str) -> Any:
    checked = validate_sensitive_values(values, field)
    return conceal(checked) if checked is not None else None


def _ids(values: Sequence[str] | None, field: str) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        raise ConfigurationError(f"{field} must be a list of ids, not a single string.")
    return [str(v) for v in values]


def _run_options(
    *,
    input_values: Mapping[str, Any] | None,
    sensitive_input_values: Mapping[str, Any] | None,
    file_inputs: Iterable[Any] | None,
    machine_id: str | None,
    pool_ids: Sequence[str] | None,
    session_id: str | None,
    start_session: bool | None,
    is_priority: bool | None,
) -> dict[str, Any]:
    return {
        "input_values": validate_input_values(input_values),
        "sensitive_input_values": _secrets(sensitive_input_values, "sensitive_input_values"),
        "file_inputs": normalize_file_inputs(file_inputs),
        "machine_id": machine_id,
        "pool_ids": _ids(pool_ids, "pool_ids"),
        "session_id": session_id,
        "start_session": start_session,
        "is_priority": is_priority,
    }


def create_run(
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
) -> Call[Run]:
    """POST /v1/runs."""
    segment(workflow_id, "workflow_id")
    body = compact_body(
        {
            "workflow_id": str(workflow_id),
            **_run_options(
                input_values=input_values,
                sensitive_input_values=sensitive_input_values,
                file_inputs=file_inputs,
                machine_id=machine_id,
                pool_ids=pool_ids,
                session_id=session_id,
                start_session=start_session,
                is_priority=is_priority,
            ),
            "session_alias": session_alias,
            "release_session_after": release_session_after,
            "main_prompt": main_prompt,
            "model_metadata": dict(model_metadata) if model_metadata is not None else None,
        }
    )
    spec = RequestSpec(
        "POST",
        "/v1/runs",
        json=body,
        idempotency_key=idempotency_key,
    )
    return Call(spec, model_parser(Run))


def get_run(run_id: str, *, include: str | Iterable[str] | None = None) -> Call[Run]:
    """GET /v1/runs/{run_id}."""
    spec = RequestSpec(
        "GET",
        f"/v1/runs/{segment(run_id, 'run_id')}",
        params=build_params(include=join_include(include)),
        resource=("run", str(run_id)),
    )
    return Call(spec, model_parser(Run))


def list_runs(
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
) -> Call[Page[Run]]:
    """GET /v1/runs (filters, projection via repeated `fields`, pagination)."""
    check_page(skip, limit)
    params = build_params(
        workflow_id=workflow_id,
        machine_id=machine_id,
        session_id=session_id,
        status=status,
        created_at_from=created_at_from,
        created_at_to=created_at_to,
        sort_mode=sort_mode,
        search=search,
        deep_search=deep_search,
        fields=list(fields) if fields is not None else None,
        include=join_include(include),
        skip=skip,
        limit=limit,
    )
    return Call(RequestSpec("GET", "/v1/runs", params=params), model_parser(Page[Run]))


def update_run(
    run_id: str, fields: Mapping[str, Any], *, idempotency_key: str | None = None
) -> Call[Run]:
    """PATCH /v1/runs/{run_id}: only given fields are sent; explicit None is sent as null."""
    if not fields:
        raise ConfigurationError("runs.update needs at least one field to change.")
    spec = RequestSpec(
        "PATCH",
        f"/v1/runs/{segment(run_id, 'run_id')}",
        json=dict(fields),
        idempotency_key=idempotency_key,
        resource=("run", str(run_id)),
    )
    return Call(spec, model_parser(Run))


def cancel_run(run_id: str, *, idempotency_key: str | None = None) -> Call[Run]:
    """PATCH /v1/runs/{run_id} with status=cancelled (the API's way to cancel a run)."""
    return update_run(run_id, {"status": "cancelled"}, idempotency_key=idempotency_key)


def delete_run(run_id: str) -> Call[None]:
    """DELETE /v1/runs/{run_id}."""
    spec = RequestSpec(
        "DELETE", f"/v1/runs/{segment(run_id, 'run_id')}", resource=("run", str(run_id))
    )
    return Call(spec, none_parser)


def retry_run(
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
) -> Call[Run]:
    """POST /v1/runs/{run_id}/retry."""
    body = compact_body(
        {
            **_run_options(
                input_values=input_values,
                sensitive_input_values=sensitive_input_values,
                file_inputs=file_inputs,
                machine_id=machine_id,
                pool_ids=pool_ids,
                session_id=session_id,
                start_session=start_session,
                is_priority=is_priority,
            ),
            "reuse_session": reuse_session,
            "session_alias": session_alias,
            "release_session_after": release_session_after,
        }
    )
    spec = RequestSpec(
        "POST",
        f"/v1/runs/{segment(run_id, 'run_id')}/retry",
        json=body,
        idempotency_key=idempotency_key,
        resource=("run", str(run_id)),
    )
    return Call(spec, model_parser(Run))


def bulk_create_run(
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
) -> Call[BulkCreateResult]:
    """POST /v1/runs/bulk (1..1000 identical runs)."""
    segment(workflow_id, "workflow_id")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_LIMIT:
        raise ConfigurationError(f"count must be an integer between 1 and {MAX_LIMIT}.")
    body = compact_body(
        {
            "workflow_id": str(workflow_id),
            "count": count,
            **_run_options(
                input_values=input_values,
                sensitive_input_values=sensitive_input_values,
                file_inputs=file_inputs,
                machine_id=machine_id,
                pool_ids=pool_ids,
                session_id=session_id,
                start_session=start_session,
                is_priority=is_priority,
            ),
        }
    )
    spec = RequestSpec(
        "POST",
        "/v1/runs/bulk",
        json=body,
        idempotency_key=idempotency_key,
    )
    return Call(spec, model_parser(BulkCreateResult))


def _step(step: ChainStep | Mapping[str, Any], index: int) -> ChainStep:
    if isinstance(step, ChainStep):
        parsed = step
    elif isinstance(step, Mapping):
        try:
            parsed = ChainStep(**dict(step))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"steps[{index}]: {exc}") from None
    else:
        raise ConfigurationError(f"steps[{index}] must be a ChainStep or a mapping.")
    segment(parsed.workflow_id, f"steps[{index}].workflow_id")
    validate_input_values(parsed.inputs, f"steps[{index}].inputs")
    return parsed


def chain_runs(
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
) -> Call[ChainResult]:
    """POST /v1/runs/chain: steps run one after another in one session."""
    if isinstance(steps, str | bytes) or not steps:
        raise ConfigurationError("steps must be a non-empty list of ChainStep (or mappings).")
    body = compact_body(
        {
            "steps": [_step(step, i) for i, step in enumerate(steps)],
            "shared_inputs": validate_input_values(shared_inputs, "shared_inputs"),
            "shared_sensitive_inputs": _secrets(shared_sensitive_inputs, "shared_sensitive_inputs"),
            "shared_file_inputs": normalize_file_inputs(shared_file_inputs, "shared_file_inputs"),
            "keep_session_after_completion": keep_session_after_completion,
            "machine_id": machine_id,
            "pool_ids": _ids(pool_ids, "pool_ids"),
            "session_id": session_id,
            "is_priority": is_priority,
        }
    )
    spec = RequestSpec("POST", "/v1/runs/chain", json=body, idempotency_key=idempotency_key)
    return Call(spec, model_parser(ChainResult))
