"""Waiting for runs: `wait_for_run` (blocking), `await_run` (asyncio) and `RunWatcher`.

Both loops poll `runs.get` on a capped backoff schedule until the run is terminal
(`running_checks` and unknown statuses keep waiting) or the absolute deadline passes. Transient
API errors are polled through; permanent ones (401/403/422, a 404 that persists) raise.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from cyberdesk_core._waitcore import Clock, PollOptions, WaitState, raise_for_run_status, utcnow
from cyberdesk_core.errors import CyberdeskError
from cyberdesk_core.models import TERMINAL_STATUSES, Run
from cyberdesk_core.watcher import RunWatcher, StatusCallback

if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient
    from cyberdesk_core.client import CyberdeskClient

__all__ = [
    "TERMINAL_STATUSES",
    "RunWatcher",
    "await_run",
    "raise_for_run_status",
    "wait_for_run",
]


def _finish(run: Run, raise_on_failure: bool) -> Run:
    return raise_for_run_status(run) if raise_on_failure else run


def wait_for_run(
    client: CyberdeskClient,
    run_id: str,
    *,
    on_status_change: Callable[[Run], None] | None = None,
    raise_on_failure: bool = True,
    sleep: Callable[[float], None] | None = None,
    clock: Clock | None = None,
    **options: Unpack[PollOptions],
) -> Run:
    """Block until `run_id` is terminal and return it.

    Polls every `poll_interval` seconds (default 5, growing up to `max_poll_interval`, default
    30, while nothing changes). Raises RunFailedError / RunCancelledError for failed runs
    (unless `raise_on_failure=False`) and RunTimeoutError once `timeout` seconds or `deadline`
    (whichever is earlier) pass. `on_status_change` is called with the run on the first read
    and on every status change.
    """
    clock = clock or utcnow
    do_sleep = sleep or time.sleep
    state = WaitState.start(run_id, clock, "wait_for_run", **options)
    while True:
        try:
            run = client.runs.get(run_id)
        except CyberdeskError as exc:
            state.on_error(exc, clock())
        else:
            if state.observe(run) and on_status_change is not None:
                on_status_change(run)
            if run.status.is_terminal:
                return _finish(run, raise_on_failure)
        do_sleep(state.next_delay(clock()))


async def _notify(callback: StatusCallback | None, run: Run) -> None:
    if callback is not None:
        result = callback(run)
        if inspect.isawaitable(result):
            await result


async def await_run(
    aclient: AsyncCyberdeskClient,
    run_id: str,
    *,
    on_status_change: Callable[[Run], Any] | None = None,
    raise_on_failure: bool = True,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    clock: Clock | None = None,
    watcher: RunWatcher | None = None,
    workflow_id: str | None = None,
    session_id: str | None = None,
    created_at: datetime | None = None,
    **options: Unpack[PollOptions],
) -> Run:
    """Async `wait_for_run` (same polling options); `on_status_change` may be sync or async.

    With `watcher`, polling is delegated to the shared RunWatcher (`workflow_id`, `session_id`
    and `created_at` help it batch this run with others).
    """
    clock = clock or utcnow
    state = WaitState.start(run_id, clock, "await_run", **options)
    if watcher is not None:
        run = await watcher.wait(
            run_id,
            workflow_id=workflow_id,
            session_id=session_id,
            created_at=created_at,
            deadline=state.deadline,
            on_status_change=on_status_change,
        )
        return _finish(run, raise_on_failure)
    do_sleep = sleep or asyncio.sleep
    while True:
        try:
            run = await aclient.runs.get(run_id)
        except CyberdeskError as exc:
            state.on_error(exc, clock())
        else:
            if state.observe(run):
                await _notify(on_status_change, run)
            if run.status.is_terminal:
                return _finish(run, raise_on_failure)
        await do_sleep(state.next_delay(clock()))
