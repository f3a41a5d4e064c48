"""Request builders for the `/v1/runs` endpoints (pure: no I/O, shared by both clients)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from typing_extensions import TypedDict, Unpack

from cyberdesk_core._paging import PageCalls
from cyberdesk_core._request import (
    Call,
    RequestSpec,
    build_params,
    checked_options,
    compact_body,
    join_include,
    model_parser,
    none_parser,
)
from cyberdesk_core.errors import ConfigurationError
from cyberdesk_core.inputs import (
    normalize_file_inputs,
    referenced_aliases,
    validate_input_values,
    validate_sensitive_values,
)
from cyberdesk_core.models import BulkCreateResult, ChainResult, ChainStep, Page, Run, RunStatus
from cyberdesk_core.payloads import conceal

__all__ = [
    "BulkCreateOptions",
    "ChainOptions",
    "RunCreateOptions",
    "RunListFilters",
    "RunRetryOptions",
    "bulk_create_run",
    "cancel_run",
    "chain_runs",
    "check_page",
    "create_run",
    "delete_run",
    "get_run",
    "list_runs",
    "retry_run",
    "run_pages",
    "segment",
    "update_run",
]

MAX_LIMIT = 1000


def segment(value: object, field: str) -> str:
    """A URL path segment from an id; rejects empty values, slashes and unencodable text."""
    text = str(value).strip() if value is not None else ""
    if not text or "/" in text:
        raise ConfigurationError(f"{field} must be a non-empty id, got {value!r}.")
    try:
        return quote(text, safe="")
    except UnicodeEncodeError:
        # A lone surrogate (e.g. from a bad JSON escape) cannot be sent; name the field.
        raise ConfigurationError(
            f"{field} contains text that cannot be encoded as UTF-8 (a lone surrogate); "
            "pass the id as it was given by Cyberdesk."
        ) from None


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
    ids = [str(v) for v in values]
    if not ids:
        # An empty list would silently drop the placement constraint the caller meant to set.
        raise ConfigurationError(
            f"{field} is empty: pass at least one id, or leave {field} out (None) to allow any."
        )
    return ids


class BulkCreateOptions(TypedDict, total=False):
    """Keyword options of `runs.bulk_create`; the base of the other run-starting option sets."""

    input_values: Mapping[str, Any] | None
    sensitive_input_values: Mapping[str, Any] | None
    file_inputs: Iterable[Any] | None
    machine_id: str | None
    pool_ids: Sequence[str] | None
    session_id: str | None
    start_session: bool | None
    is_priority: bool | None
    idempotency_key: str | None


class RunCreateOptions(BulkCreateOptions, total=False):
    """Keyword options of `runs.create`."""

    session_alias: str | None
    release_session_after: bool | None
    main_prompt: str | None
    model_metadata: Mapping[str, Any] | None


class RunRetryOptions(BulkCreateOptions, total=False):
    """Keyword options of `runs.retry`."""

    reuse_session: bool | None
    session_alias: str | None
    release_session_after: bool | None


class ChainOptions(TypedDict, total=False):
    """Keyword options of `runs.chain`."""

    shared_inputs: Mapping[str, Any] | None
    shared_sensitive_inputs: Mapping[str, Any] | None
    shared_file_inputs: Iterable[Any] | None
    keep_session_after_completion: bool | None
    machine_id: str | None
    pool_ids: Sequence[str] | None
    session_id: str | None
    is_priority: bool | None
    idempotency_key: str | None


class RunListFilters(TypedDict, total=False):
    """Filters of `runs.list` and `runs.iter` (query parameters, sent in this order)."""

    workflow_id: str | None
    machine_id: str | None
    session_id: str | None
    status: RunStatus | str | None
    created_at_from: datetime | None
    created_at_to: datetime | None
    sort_mode: str | None
    search: str | None
    deep_search: bool | None
    fields: Iterable[str] | None
    include: str | Iterable[str] | None


def _copy(value: Mapping[str, Any] | None, field: str) -> dict[str, Any] | None:
    return dict(value) if value is not None else None


# How each option becomes its body value (validated, normalised, secrets concealed); options not
# listed are sent as given. Every converter takes (value, field name) and maps None to None.
_CONVERTERS: dict[str, Callable[[Any, str], Any]] = {
    "input_values": validate_input_values,
    "shared_inputs": validate_input_values,
    "sensitive_input_values": _secrets,
    "shared_sensitive_inputs": _secrets,
    "file_inputs": normalize_file_inputs,
    "shared_file_inputs": normalize_file_inputs,
    "pool_ids": _ids,
    "model_metadata": _copy,
}


def _body(options: Mapping[str, Any]) -> dict[str, Any]:
    """Body fields from checked options in declaration order; None values are omitted and the
    idempotency key is left out (it travels as a header)."""
    body: dict[str, Any] = {}
    for name, value in options.items():
        if name != "idempotency_key":
            convert = _CONVERTERS.get(name)
            body[name] = convert(value, name) if convert is not None else value
    return compact_body(body)


def create_run(workflow_id: str, **options: Unpack[RunCreateOptions]) -> Call[Run]:
    """POST /v1/runs."""
    checked = checked_options(options, RunCreateOptions, "runs.create")
    segment(workflow_id, "workflow_id")
    spec = RequestSpec(
        "POST",
        "/v1/runs",
        json={"workflow_id": str(workflow_id), **_body(checked)},
        idempotency_key=options.get("idempotency_key"),
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
    *, skip: int = 0, limit: int = 100, **filters: Unpack[RunListFilters]
) -> Call[Page[Run]]:
    """GET /v1/runs (filters, projection via repeated `fields`, pagination)."""
    query = checked_options(filters, RunListFilters, "runs.list")
    check_page(skip, limit)
    if query.get("fields") is not None:
        query["fields"] = list(query["fields"])
    if "include" in query:
        query["include"] = join_include(query["include"])
    params = build_params(**query, skip=skip, limit=limit)
    return Call(RequestSpec("GET", "/v1/runs", params=params), model_parser(Page[Run]))


def run_pages(**filters: Unpack[RunListFilters]) -> PageCalls[Run]:
    """The `list_runs` call of each page for `runs.iter`.

    Filters are checked now, when the iterator is made; `fields` is read once here since it may
    be a one-shot iterator and every page repeats it.
    """
    checked_options(filters, RunListFilters, "runs.iter")
    fields = filters.get("fields")
    if fields is not None:
        filters["fields"] = list(fields)
    return lambda skip, limit: list_runs(skip=skip, limit=limit, **filters)


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


def retry_run(run_id: str, **options: Unpack[RunRetryOptions]) -> Call[Run]:
    """POST /v1/runs/{run_id}/retry."""
    body = _body(checked_options(options, RunRetryOptions, "runs.retry"))
    spec = RequestSpec(
        "POST",
        f"/v1/runs/{segment(run_id, 'run_id')}/retry",
        json=body,
        idempotency_key=options.get("idempotency_key"),
        resource=("run", str(run_id)),
    )
    return Call(spec, model_parser(Run))


def bulk_create_run(
    workflow_id: str, count: int, **options: Unpack[BulkCreateOptions]
) -> Call[BulkCreateResult]:
    """POST /v1/runs/bulk (1..1000 identical runs)."""
    checked = checked_options(options, BulkCreateOptions, "runs.bulk_create")
    segment(workflow_id, "workflow_id")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_LIMIT:
        raise ConfigurationError(f"count must be an integer between 1 and {MAX_LIMIT}.")
    spec = RequestSpec(
        "POST",
        "/v1/runs/bulk",
        json={"workflow_id": str(workflow_id), "count": count, **_body(checked)},
        idempotency_key=options.get("idempotency_key"),
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


def _check_chain_refs(steps: Sequence[ChainStep]) -> None:
    """In a new session a step may only `$ref` the aliases of earlier steps.

    Otherwise the chain would be created and its step would fail remotely once it starts.
    (Joining an existing session, a ref may name a run made before the chain: not checked.)
    """
    earlier: list[str] = []
    for index, step in enumerate(steps):
        for alias in referenced_aliases(step.inputs):
            if alias not in earlier:
                known = ", ".join(repr(a) for a in earlier) or "none"
                raise ConfigurationError(
                    f"steps[{index}].inputs: $ref names step alias {alias!r}, but no earlier step "
                    f"has session_alias={alias!r} (earlier aliases: {known}). Fix the alias or "
                    "set session_alias on the step that produces the value."
                )
        if step.session_alias:
            earlier.append(step.session_alias)


def chain_runs(
    steps: Sequence[ChainStep | Mapping[str, Any]], **options: Unpack[ChainOptions]
) -> Call[ChainResult]:
    """POST /v1/runs/chain: steps run one after another in one session."""
    checked = checked_options(options, ChainOptions, "runs.chain")
    if isinstance(steps, str | bytes) or not steps:
        raise ConfigurationError("steps must be a non-empty list of ChainStep (or mappings).")
    parsed = [_step(step, i) for i, step in enumerate(steps)]
    if checked.get("session_id") is None:
        _check_chain_refs(parsed)
    body = {"steps": parsed, **_body(checked)}
    spec = RequestSpec(
        "POST", "/v1/runs/chain", json=body, idempotency_key=options.get("idempotency_key")
    )
    return Call(spec, model_parser(ChainResult))
