"""Property-based tests of ``wait_for_run``, ``await_run`` and ``RunWatcher``.

For random status timelines (unknown future statuses and ``running_checks`` included), random
request latencies, random transient faults and random poll settings, on an injected clock:

* a wait always ends, and never later than the deadline plus one poll's worth of requests;
* a timeout is never raised before the deadline, and carries the last run seen;
* the status reported is the run's real terminal status (never a non-terminal one, never another
  terminal one), with its outputs; status callbacks see every change, in order, once;
* a run already read as terminal is never read again.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rel_scripted_api import KNOWN_TERMINAL, WORKFLOW, FakeClock, ScriptedAPI, Timeline

from cyberdesk_core import (
    AsyncCyberdeskClient,
    CyberdeskClient,
    RetryPolicy,
    RunCancelledError,
    RunFailedError,
    RunTimeoutError,
    RunWatcher,
    await_run,
    wait_for_run,
)

NON_TERMINAL = ["scheduling", "running", "running_checks"]
UNKNOWN = st.sampled_from(["paused", "awaiting_approval", "queued_v2", "migrating"])
FAULTS = st.sampled_from(["429", "409", "500", "502", "503", "504", "connect", "read-timeout"])
POLICY = RetryPolicy(max_retries=2, min_delay=0.25, max_delay=2.0)
MAX_LATENCY = 3.0
#: Deadlines are datetimes (microsecond resolution); float seconds are compared with this slack.
EPS = 1e-5

statuses = st.one_of(st.sampled_from(NON_TERMINAL), UNKNOWN)
segments = st.lists(
    st.tuples(statuses, st.floats(min_value=0, max_value=60, allow_nan=False)), max_size=5
)
terminal = st.sampled_from(sorted(KNOWN_TERMINAL))
latencies = st.lists(st.floats(min_value=0, max_value=MAX_LATENCY, allow_nan=False), max_size=8)
fault_scripts = st.lists(st.one_of(st.none(), st.none(), FAULTS), max_size=12)


@st.composite
def timelines(draw: st.DrawFn, *, must_end: bool = False) -> Timeline:
    body = draw(segments)
    if must_end or draw(st.booleans()):
        body.append((draw(terminal), 0.0))
    if not body:
        body = [("scheduling", 1.0)]
    return Timeline(body)


@st.composite
def poll_settings(draw: st.DrawFn) -> tuple[float, float]:
    # Seconds on the fake clock; the lower bound keeps the number of polls per example small.
    poll = draw(st.floats(min_value=1, max_value=10))
    return poll, draw(st.floats(min_value=poll, max_value=60))


def _one_get_bound() -> float:
    """Longest a single GET (with its transport retries) can take on the fake clock."""
    attempts = POLICY.max_retries + 1
    return attempts * MAX_LATENCY + POLICY.max_retries * POLICY.max_delay


def _dedup(values: list[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        if not out or out[-1] != value:
            out.append(value)
    return out


def _check_outcome(
    api: ScriptedAPI, timeline: Timeline, outcome: Any, deadline: float | None, ended: float
) -> None:
    served = api.served_statuses.get("run-1", [])
    if isinstance(outcome, RunTimeoutError):
        assert deadline is not None
        assert ended >= deadline - EPS, "timed out before the deadline"
        assert not served or served[-1] not in KNOWN_TERMINAL, "terminal run reported as timeout"
        if served:
            assert outcome.run is not None
            assert outcome.run.status == served[-1]
        return
    failed = isinstance(outcome, RunFailedError | RunCancelledError)
    status = outcome.run.status if failed else outcome.status
    assert status == timeline.terminal, (status, timeline.segments)
    assert served
    assert served[-1] == status
    if isinstance(outcome, RunCancelledError):
        assert status == "cancelled"
    elif isinstance(outcome, RunFailedError):
        assert status in ("error", "task_failed")
    else:
        assert status == "success"
        assert outcome.output_data == {"final": "success"}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    timeline=timelines(),
    faults=fault_scripts,
    lat=latencies,
    polls=poll_settings(),
    timeout=st.one_of(st.none(), st.floats(min_value=1, max_value=200)),
)
def test_wait_for_run_properties(
    timeline: Timeline,
    faults: list[str | None],
    lat: list[float],
    polls: tuple[float, float],
    timeout: float | None,
) -> None:
    if timeout is None and timeline.terminal is None:
        timeline.segments.append(("success", 0.0))
    clock = FakeClock()
    api = ScriptedAPI(clock, {"run-1": timeline}, faults, lat)
    poll_sleeps: list[tuple[float, float]] = []
    seen: list[str] = []

    def poll_sleep(seconds: float) -> None:
        poll_sleeps.append((clock.elapsed(), seconds))
        clock.advance(seconds)

    with CyberdeskClient(
        "cd_property",
        base_url="https://cyberdesk.test",
        transport=httpx.MockTransport(api),
        retry_policy=POLICY,
        sleep=clock.advance,
    ) as client:
        try:
            outcome: Any = wait_for_run(
                client,
                "run-1",
                poll_interval=polls[0],
                max_poll_interval=polls[1],
                timeout=timeout,
                on_status_change=lambda run: seen.append(str(run.status)),
                sleep=poll_sleep,
                clock=clock,
            )
        except (RunTimeoutError, RunFailedError, RunCancelledError) as exc:
            outcome = exc
    ended = clock.elapsed()
    _check_outcome(api, timeline, outcome, timeout, ended)
    assert api.reads_after_terminal == []
    assert seen == _dedup(api.served_statuses.get("run-1", []))
    for start, seconds in poll_sleeps:
        assert polls[0] - EPS <= seconds or (
            timeout is not None and start + seconds >= timeout - EPS
        )
        assert seconds <= polls[1] + EPS
        if timeout is not None:
            assert start + seconds <= timeout + EPS, "slept past the deadline"
    if timeout is not None:
        assert ended <= timeout + _one_get_bound() + EPS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    timeline=timelines(),
    faults=fault_scripts,
    lat=latencies,
    polls=poll_settings(),
    timeout=st.one_of(st.none(), st.floats(min_value=1, max_value=200)),
)
def test_await_run_properties(
    timeline: Timeline,
    faults: list[str | None],
    lat: list[float],
    polls: tuple[float, float],
    timeout: float | None,
) -> None:
    if timeout is None and timeline.terminal is None:
        timeline.segments.append(("error", 0.0))
    clock = FakeClock()
    api = ScriptedAPI(clock, {"run-1": timeline}, faults, lat)
    seen: list[str] = []

    async def advance(seconds: float) -> None:
        clock.advance(seconds)

    async def record(run: Any) -> None:
        seen.append(str(run.status))

    async def main() -> Any:
        async with AsyncCyberdeskClient(
            "cd_property",
            base_url="https://cyberdesk.test",
            transport=httpx.MockTransport(api),
            retry_policy=POLICY,
            sleep=advance,
        ) as aclient:
            try:
                return await await_run(
                    aclient,
                    "run-1",
                    poll_interval=polls[0],
                    max_poll_interval=polls[1],
                    timeout=timeout,
                    on_status_change=record,
                    sleep=advance,
                    clock=clock,
                )
            except (RunTimeoutError, RunFailedError, RunCancelledError) as exc:
                return exc

    outcome = asyncio.run(main())
    ended = clock.elapsed()
    _check_outcome(api, timeline, outcome, timeout, ended)
    assert api.reads_after_terminal == []
    assert seen == _dedup(api.served_statuses.get("run-1", []))
    if timeout is not None:
        assert ended <= timeout + _one_get_bound() + EPS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    runs=st.lists(timelines(), min_size=1, max_size=6),
    grouped=st.booleans(),
    faults=fault_scripts,
    lat=st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), max_size=6),
    poll=st.floats(min_value=1, max_value=10),
    deadlines=st.lists(st.floats(min_value=1, max_value=200), min_size=6, max_size=6),
)
def test_run_watcher_properties(
    runs: list[Timeline],
    grouped: bool,
    faults: list[str | None],
    lat: list[float],
    poll: float,
    deadlines: list[float],
) -> None:
    clock = FakeClock()
    ids = [f"run-{i}" for i in range(len(runs))]
    api = ScriptedAPI(clock, dict(zip(ids, runs, strict=True)), faults, lat)
    ended: dict[str, float] = {}
    changes: dict[str, list[str]] = {run_id: [] for run_id in ids}

    async def advance(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)

    async def main() -> dict[str, Any]:
        # No transport retries: every fault reaches the watcher, which must poll through it.
        async with (
            AsyncCyberdeskClient(
                "cd_property",
                base_url="https://cyberdesk.test",
                transport=httpx.MockTransport(api),
                max_retries=0,
            ) as aclient,
            RunWatcher(
                aclient, poll_interval=poll, max_poll_interval=poll * 4, clock=clock, sleep=advance
            ) as watcher,
        ):

            async def one(i: int, run_id: str) -> Any:
                def record(run: Any) -> None:
                    changes[run_id].append(str(run.status))

                try:
                    return await watcher.wait(
                        run_id,
                        workflow_id=WORKFLOW if grouped else None,
                        created_at=clock() if grouped else None,
                        deadline=clock() + timedelta(seconds=deadlines[i]),
                        on_status_change=record,
                    )
                except RunTimeoutError as exc:
                    return exc
                finally:
                    ended[run_id] = clock.elapsed()

            results = await asyncio.wait_for(
                asyncio.gather(*(one(i, r) for i, r in enumerate(ids))), timeout=30
            )
            assert watcher.watched_run_ids == frozenset()
            return dict(zip(ids, results, strict=True))

    outcomes = asyncio.run(main())
    # A tick reads every run once (plus one list page); each read may cost one latency.
    tick_bound = (len(ids) + 1) * 1.0 + EPS
    for i, run_id in enumerate(ids):
        outcome = outcomes[run_id]
        timeline = runs[i]
        if isinstance(outcome, RunTimeoutError):
            assert ended[run_id] >= deadlines[i] - EPS, "timed out early"
            assert ended[run_id] <= deadlines[i] + tick_bound, "timed out late"
            if outcome.run is not None:
                assert outcome.run.status not in KNOWN_TERMINAL
        else:
            assert outcome.status == timeline.terminal, (outcome.status, timeline.segments)
            assert outcome.output_data == {"final": outcome.status}
            assert ended[run_id] <= deadlines[i] + tick_bound
        assert changes[run_id] == _dedup(changes[run_id])
        if changes[run_id] and not isinstance(outcome, RunTimeoutError):
            assert changes[run_id][-1] == outcome.status
    assert api.reads_after_terminal == []


@pytest.mark.parametrize("status", ["success", "error", "task_failed", "cancelled"])
def test_a_terminal_first_read_is_never_polled_again(status: str) -> None:
    clock = FakeClock()
    api = ScriptedAPI(clock, {"run-1": Timeline([(status, 0.0)])}, [], [])
    with CyberdeskClient(
        "cd_property", base_url="https://cyberdesk.test", transport=httpx.MockTransport(api)
    ) as client:
        run = wait_for_run(client, "run-1", raise_on_failure=False, sleep=clock.advance)
    assert run.status == status
    assert api.requests == 1
