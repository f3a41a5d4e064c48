"""What a new try does with the run an earlier try of the same task created: one rule, both engines.

A task that creates a Cyberdesk run may be tried again: an automatic retry after a failure
(a download that failed after the run succeeded, a lost worker), or a deliberate "run it again"
by a person. The same Idempotency-Key brings the earlier try's run back, and then:

| the earlier try's run | the new try |
|---|---|
| still active | re-attaches and waits for it (`REATTACH`) |
| succeeded | takes its outputs, executes nothing (`REUSE`) |
| failed, errored, task_failed, cancelled | re-runs it with `runs.retry`, same run id (`RERUN`) |
| succeeded, and re-running was asked for | re-runs it (`RERUN`) |

Executing a succeeded run again can post a journal twice, so `REUSE` is the default: only an
explicit request (`rerun_succeeded=True`, which the engines set from a parameter or from a
deliberate re-run the engine can tell apart from an automatic retry) executes it again.

The read-decide-retry sequence is written once as request steps (`_steps`); the blocking and
asyncio functions only send them. Chains apply the same rule step by step (`chain_resuming`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from cyberdesk_core import _run_endpoints as run_endpoints
from cyberdesk_core._steps import Steps, asend_steps, send_steps
from cyberdesk_core.errors import ConflictError
from cyberdesk_core.models import Run

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from cyberdesk_core.aclient import AsyncCyberdeskClient
    from cyberdesk_core.client import CyberdeskClient

__all__ = [
    "EarlierRunAction",
    "Reconciled",
    "areconcile_earlier_run",
    "areconcile_earlier_runs",
    "decide_earlier_run",
    "describe_batch",
    "reconcile_earlier_run",
    "reconcile_earlier_runs",
]


class EarlierRunAction(str, Enum):
    """What a new try does with an earlier try's run."""

    REATTACH = "reattach"
    """The run is still active: wait for it."""
    REUSE = "reuse"
    """The run succeeded: take its outputs; nothing is executed again."""
    RERUN = "rerun"
    """The run ended without success (or re-running was asked for): `runs.retry`, same id."""


def decide_earlier_run(run: Run, *, rerun_succeeded: bool = False) -> EarlierRunAction:
    """The one rule: what a new try does with `run`, created by an earlier try.

    Args:
        run: The earlier try's run, as read now (not a replayed create response).
        rerun_succeeded: Execute a succeeded run again. Only for a deliberate request by a
            person; an automatic retry never sets it.
    """
    if not run.is_terminal:
        return EarlierRunAction.REATTACH
    if str(run.status) == "success" and not rerun_succeeded:
        return EarlierRunAction.REUSE
    return EarlierRunAction.RERUN


@dataclass(frozen=True)
class Reconciled:
    """The outcome of `reconcile_earlier_run` (one run).

    Attributes:
        run: The run to wait for or to finish: re-read, or as `runs.retry` answered.
        action: What was done with it.
        earlier: The earlier try's run as it was read, before anything was done.
    """

    run: Run
    action: EarlierRunAction
    earlier: Run

    @property
    def reattached(self) -> bool:
        """True when the earlier try's run was still active and this try waits for it."""
        return self.action is EarlierRunAction.REATTACH and not self.earlier.is_terminal

    def describe(self) -> str:
        """One log line, worded the same in both engines (ids and statuses only)."""
        run_id = self.run.id
        if self.action is EarlierRunAction.REATTACH and not self.reattached:
            return (
                f"Cyberdesk run {run_id} from an earlier try ended as {self.earlier.status} and "
                "is already running again; waiting for that execution."
            )
        if self.action is EarlierRunAction.REATTACH:
            return f"Re-attached to Cyberdesk run {run_id} from an earlier try (still active)."
        if self.action is EarlierRunAction.REUSE:
            return (
                f"Reusing Cyberdesk run {run_id} from an earlier try: it already succeeded, so "
                "its outputs are taken and it is not executed again (ask explicitly to re-run "
                "a succeeded run)."
            )
        return (
            f"Cyberdesk run {run_id} from an earlier try ended as {self.earlier.status}; "
            "running it again (runs.retry, same run id)."
        )


def _reconcile_steps(
    run_id: str, rerun_succeeded: bool, retry_options: run_endpoints.RunRetryOptions
) -> Steps[Run, Reconciled]:
    run = yield run_endpoints.get_run(run_id)
    action = decide_earlier_run(run, rerun_succeeded=rerun_succeeded)
    if action is not EarlierRunAction.RERUN:
        return Reconciled(run, action, run)
    try:
        retried = yield run_endpoints.retry_run(run_id, **retry_options)
    except ConflictError:
        # Somebody else (another try, a person in the dashboard) already runs it again: wait
        # for that execution instead of starting one more.
        current = yield run_endpoints.get_run(run_id)
        if current.is_terminal:
            raise
        return Reconciled(current, EarlierRunAction.REATTACH, run)
    return Reconciled(retried, action, run)


def reconcile_earlier_run(
    client: CyberdeskClient,
    run_id: str,
    *,
    rerun_succeeded: bool = False,
    **retry_options: Unpack[run_endpoints.RunRetryOptions],
) -> Reconciled:
    """Read an earlier try's run and apply `decide_earlier_run` to it.

    Args:
        client: The client.
        run_id: The run the earlier try created.
        rerun_succeeded: Execute it again even if it succeeded (a deliberate request).
        **retry_options: Options of `runs.retry` for a re-run: secrets again (Cyberdesk drops
            them when a run ends) and an `idempotency_key` unique to this try.

    Returns:
        The run to wait for and what was done with it.
    """
    return send_steps(client, _reconcile_steps(run_id, rerun_succeeded, retry_options))


async def areconcile_earlier_run(
    client: AsyncCyberdeskClient,
    run_id: str,
    *,
    rerun_succeeded: bool = False,
    **retry_options: Unpack[run_endpoints.RunRetryOptions],
) -> Reconciled:
    """Async form of `reconcile_earlier_run`."""
    return await asend_steps(client, _reconcile_steps(run_id, rerun_succeeded, retry_options))


def describe_batch(outcomes: Sequence[Reconciled]) -> str:
    """One log line for what was done with an earlier try's batch, the same in both engines."""
    counts = dict.fromkeys(EarlierRunAction, 0)
    for outcome in outcomes:
        counts[outcome.action] += 1
    return (
        f"The batch of an earlier try: {counts[EarlierRunAction.REATTACH]} run(s) re-attached, "
        f"{counts[EarlierRunAction.REUSE]} reused (succeeded, not executed again), "
        f"{counts[EarlierRunAction.RERUN]} run again with runs.retry."
    )


RetryOptionsFor = Callable[[str], run_endpoints.RunRetryOptions]
"""The `runs.retry` options for one run id (each re-run needs a key of its own)."""


def reconcile_earlier_runs(
    client: CyberdeskClient,
    run_ids: Sequence[str],
    retry_options_for: RetryOptionsFor,
    *,
    rerun_succeeded: bool = False,
) -> list[Reconciled]:
    """`reconcile_earlier_run` for each run of a batch whose runs are independent (bulk)."""
    return [
        send_steps(client, _reconcile_steps(run_id, rerun_succeeded, retry_options_for(run_id)))
        for run_id in run_ids
    ]


async def areconcile_earlier_runs(
    client: AsyncCyberdeskClient,
    run_ids: Sequence[str],
    retry_options_for: RetryOptionsFor,
    *,
    rerun_succeeded: bool = False,
    concurrency: int = 16,
) -> list[Reconciled]:
    """Async form of `reconcile_earlier_runs`, at most `concurrency` runs at a time."""
    limiter = asyncio.Semaphore(max(1, concurrency))

    async def one(run_id: str) -> Reconciled:
        async with limiter:
            steps = _reconcile_steps(run_id, rerun_succeeded, retry_options_for(run_id))
            return await asend_steps(client, steps)

    return list(await asyncio.gather(*(one(run_id) for run_id in run_ids)))
