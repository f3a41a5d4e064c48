"""Read a `GET /v1/runs` page for `RunWatcher`, building models only for what changed.

A watcher lists up to 1,000 runs per page every interval, most of them unchanged since the
previous tick or not watched at all. Validating the whole page as `Page[Run]` builds every
run (a model plus its lists and dicts) with all of them alive at once; the garbage collector
then promotes thousands of short-lived objects per page and ends up running full collections
over the whole process (in an Airflow triggerer, a long one). Here each item is turned into
Python objects on its own and dropped at once unless it is watched and its listed state
(status, machine, start and end) differs from the last one seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, WrapValidator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from cyberdesk_core._request import model_parser
from cyberdesk_core.models import Page, Run

if TYPE_CHECKING:
    import httpx

__all__ = [
    "LIST_FIELDS",
    "Fingerprint",
    "Listed",
    "Listing",
    "ListingContext",
    "fingerprint",
    "listing_of",
    "listing_parser",
    "parse_listing",
]

#: What tells a listed run changed: its raw status, machine, start and end as sent. Progress
#: within a status (`usage_metadata`, see `step_progress`) is recorded apart, without building
#: the run again.
Fingerprint = tuple[object, object, object, object]
#: A watched run on a page: the Run built from it with its fingerprint (None when the page came
#: from elsewhere and had no raw state to take one from), or None when it was listed unchanged.
Listed = tuple[Run, Fingerprint | None] | None

_UNSEEN: object = object()


def fingerprint(item: Mapping[str, Any]) -> Fingerprint:
    """The listed state of a raw run item."""
    get = item.get
    return (get("status"), get("machine_id"), get("started_at"), get("ended_at"))


@dataclass
class ListingContext:
    """What the watcher knows before reading a page: watched ids and their last listed state."""

    #: Watched run id -> fingerprint of its last listed state (None: not listed yet).
    known: Mapping[str, Fingerprint | None]
    #: Filled while reading: the fingerprint of every watched run that was built.
    changed: dict[str, Fingerprint] = field(default_factory=dict)
    #: Filled while reading: the raw `usage_metadata` of every watched run listed.
    progress: dict[str, object] = field(default_factory=dict)


def _pick(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    # `handler` is the identity (items are `Any`): the run is validated here, and only when
    # needed. Whatever is not a JSON object fails as a Run would.
    context = info.context
    if not isinstance(context, ListingContext) or not isinstance(value, dict):
        return Run.model_validate(value)
    run_id = value.get("id")
    last = context.known.get(run_id, _UNSEEN) if isinstance(run_id, str) else _UNSEEN
    if last is _UNSEEN or not isinstance(run_id, str):
        # Not watched: dropped before any model (or error) is built for it.
        return None
    context.progress[run_id] = value.get("usage_metadata")
    state = fingerprint(value)
    if state == last:
        return run_id
    run = Run.model_validate(value)
    context.changed[run_id] = state
    return run


class _Listing(BaseModel):
    """A runs page as the watcher reads it: a Run (changed), an id (unchanged) or None."""

    model_config = ConfigDict(extra="ignore")

    items: list[Annotated[Any, WrapValidator(_pick)]]
    total: int = 0
    skip: int = 0
    limit: int = 100


@dataclass
class Listing:
    """One page read by `parse_listing`."""

    #: Watched runs on the page (see `Listed`).
    found: dict[str, Listed]
    #: Items on the page (watched or not) and the total the API reported, for paging.
    count: int
    total: int
    #: Raw `usage_metadata` of each watched run on the page (its progress within a status).
    progress: dict[str, object] = field(default_factory=dict)


def parse_listing(content: bytes, context: ListingContext) -> Listing:
    """Read a page body; raises pydantic's ValidationError when it is not a runs page (or a
    watched run on it is not a valid Run)."""
    page = _Listing.model_validate_json(content, context=context)
    found: dict[str, Listed] = {}
    for item in page.items:
        if isinstance(item, Run):
            found[item.id] = (item, context.changed[item.id])
        elif item is not None:
            found[item] = None
    return Listing(found, len(page.items), page.total, context.progress)


# Every optional run field except `run_message_history` (the one that makes runs heavy): a run
# seen finished in a list scan is complete enough to hand to its waiters without a GET.
LIST_FIELDS = (
    "ended_at",
    "started_at",
    "error",
    "output_data",
    "output_attachment_ids",
    "input_attachment_ids",
    "input_values",
    "session_id",
    "session_alias",
    "release_session_after",
    "post_run_checks",
    "usage_metadata",
    "pool_ids",
    "is_priority",
    "main_prompt",
    "model_metadata",
    "sensitive_input_aliases",
    "organization_id",
    "user_id",
)

_PAGE_OF_RUNS: type[Page[Run]] = Page[Run]


def listing_of(page: Page[Run], context: ListingContext) -> Listing:
    """A page read as a whole (another client's list call) as the watcher's listing."""
    watched = [run for run in page.items if run.id in context.known]
    found: dict[str, Listed] = {run.id: (run, None) for run in watched}
    progress: dict[str, object] = {run.id: run.usage_metadata for run in watched}
    return Listing(found, len(page.items), page.total, progress)


def listing_parser(context: ListingContext) -> Callable[[httpx.Response], Listing]:
    def parse(response: httpx.Response) -> Listing:
        try:
            return parse_listing(response.content, context)
        except PydanticValidationError:
            # Not JSON, or not a page: the regular parser raises the usual, explicit APIError.
            return listing_of(model_parser(_PAGE_OF_RUNS)(response), context)

    return parse
