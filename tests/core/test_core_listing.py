"""How RunWatcher reads list pages: only watched runs whose listed state changed are built."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from core_fakes import T0, FakeClock
from pydantic import ValidationError as PydanticValidationError
from watcher_sim import SimServer, make_watcher

from cyberdesk_core import AsyncCyberdeskClient, RunStatus
from cyberdesk_core._listing import ListingContext, fingerprint, parse_listing


def _item(run_id: str, status: str = "running", **extra: Any) -> dict[str, Any]:
    return {
        "id": run_id,
        "workflow_id": "wf-1",
        "machine_id": "m-1",
        "status": status,
        "created_at": T0.isoformat(),
        **extra,
    }


def _page(*items: dict[str, Any], total: int | None = None) -> bytes:
    body = {"items": list(items), "total": len(items) if total is None else total}
    return json.dumps({**body, "skip": 0, "limit": 1000}).encode()


def test_only_watched_runs_are_built_and_their_state_recorded() -> None:
    body = _page(_item("a"), _item("b", "success", output_data={"x": 1}), _item("other"))
    context = ListingContext({"a": None, "b": None})
    listing = parse_listing(body, context)
    assert set(listing.found) == {"a", "b"}
    entry = listing.found["b"]
    assert entry is not None
    b, state = entry
    assert state == ("success", "m-1", None, None)
    assert b.status is RunStatus.SUCCESS
    assert b.output_data == {"x": 1}
    assert (listing.count, listing.total) == (3, 3)
    assert listing.found["a"] is not None
    assert listing.found["a"][1] == ("running", "m-1", None, None)


def test_a_run_listed_as_before_is_not_built_again() -> None:
    item = _item("a", started_at=T0.isoformat())
    listing = parse_listing(_page(item), ListingContext({"a": fingerprint(item)}))
    assert listing.found == {"a": None}
    # Any change of status, machine, start or end builds it again.
    moved = {**item, "machine_id": "m-2"}
    again = parse_listing(_page(moved), ListingContext({"a": fingerprint(item)}))
    entry = again.found["a"]
    assert entry is not None
    assert entry[0].machine_id == "m-2"
    # A change of usage alone (the execution side reports its steps there) builds nothing: it
    # is recorded as the run's progress, the narrators' cue to read the history.
    stepped = {**item, "usage_metadata": {"total_agentic_steps": 3}}
    third = parse_listing(_page(stepped), ListingContext({"a": fingerprint(item)}))
    assert third.found == {"a": None}
    assert third.progress == {"a": {"total_agentic_steps": 3}}


def test_malformed_watched_runs_fail_and_unwatched_ones_are_ignored() -> None:
    broken = {"id": "a", "status": "running"}  # no workflow_id / created_at
    assert parse_listing(_page(broken), ListingContext({"b": None})).found == {}
    with pytest.raises(PydanticValidationError):
        parse_listing(_page(broken), ListingContext({"a": None}))
    for body in (b"[]", b'{"items": ["a"], "total": 1}', b"not json"):
        with pytest.raises(PydanticValidationError):
            parse_listing(body, ListingContext({"a": None}))


async def _lists_sent(sim: SimServer, count: int) -> None:
    """Let the watcher run (on the fake clock) until it has sent `count` list calls."""
    for _ in range(10_000):
        if len(sim.lists) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"the watcher sent {len(sim.lists)} list calls, not {count}")


async def test_unchanged_runs_keep_their_model_and_late_waiters_still_hear_the_status(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("r1", finish_after=22)
    sim.add("r2", finish_after=22)
    seen: dict[str, list[str]] = {"early": [], "late": []}
    async with make_watcher(sim_client, clock) as watcher:
        early = asyncio.ensure_future(
            watcher.wait(
                "r1",
                workflow_id="wf-1",
                created_at=T0,
                on_status_change=lambda run: seen["early"].append(run.status.value),
            )
        )
        other = asyncio.ensure_future(watcher.wait("r2", workflow_id="wf-1", created_at=T0))
        await _lists_sent(sim, 2)
        first_model = watcher._runs["r1"].last_run
        late = asyncio.ensure_future(
            watcher.wait(
                "r1",
                workflow_id="wf-1",
                created_at=T0,
                on_status_change=lambda run: seen["late"].append(run.status.value),
            )
        )
        await _lists_sent(sim, 3)
        # Still running on the third list: the model built on the first one is kept.
        assert watcher._runs["r1"].last_run is first_model
        runs = await asyncio.gather(early, late, other)
    assert [r.status for r in runs] == [RunStatus.SUCCESS] * 3
    assert runs[0].output_data == {"who": "r1"}
    assert seen == {"early": ["running", "success"], "late": ["running", "success"]}
    assert sim.gets == []
