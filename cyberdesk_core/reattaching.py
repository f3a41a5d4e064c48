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
asyncio functions only send them. Chains are resumed from their first step that did not
succeed (`plan_chain_resume`): the steps before it are reused, never executed again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from cyberdesk_core import _run_endpoints as ep
from cyberdesk_core._steps import Steps, asend_steps, send_steps
from cyberdesk_core.errors import ConflictError
from cyberdesk_core.models import RefValue, Run

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from cyberdesk_core.aclient import AsyncCyberdeskClient
    from cyberdesk_core.client import CyberdeskClient

__all__ = [
    "ChainResume",
    "EarlierRunAction",
    "Reconciled",
    "areconcile_earlier_run",
    "areconcile_earlier_runs",
    "decide_earlier_run",
    "plan_chain_resume",
    "reconcile_earlier_run",
    "reconcile_earlier_runs",
    "resolve_refs",
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
    """The outcome of `reconcile_earlier_run`.

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
    run_id: str, rerun_succeeded: bool, retry_options: ep.RunRetryOptions
) -> Steps[Run, Reconciled]:
    run = yield ep.get_run(run_id)
    action = decide_earlier_run(run, rerun_succeeded=rerun_succeeded)
    if action is not EarlierRunAction.RERUN:
        return Reconciled(run, action, run)
    try:
        retried = yield ep.retry_run(run_id, **retry_options)
    except ConflictError:
        # Somebody else (another try, a person in the dashboard) already runs it again: wait
        # for that execution instead of starting one more.
        current = yield ep.get_run(run_id)
        if current.is_terminal:
            raise
        return Reconciled(current, EarlierRunAction.REATTACH, run)
    return Reconciled(retried, action, run)


def reconcile_earlier_run(
    client: CyberdeskClient,
    run_id: str,
    *,
    rerun_succeeded: bool = False,
    **retry_options: Unpack[ep.RunRetryOptions],
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
    **retry_options: Unpack[ep.RunRetryOptions],
) -> Reconciled:
    """Async form of `reconcile_earlier_run`."""
    return await asend_steps(client, _reconcile_steps(run_id, rerun_succeeded, retry_options))


RetryOptionsFor = Callable[[str], ep.RunRetryOptions]
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


# --------------------------------------------------------------------------- chains


@dataclass(frozen=True)
class ChainResume:
    """What a new try does with the steps of an earlier try's chain (runs in step order).

    Attributes:
        action: `REATTACH` (a step is still active: wait for all of them), `REUSE` (every step
            succeeded) or `RERUN` (run the steps from `rerun_from` on again).
        rerun_from: Index of the first step to run again (`RERUN` only): the first step that
            did not succeed, or 0 when re-running succeeded steps was asked for.
    """

    action: EarlierRunAction
    rerun_from: int | None = None

    def reused(self, runs: Sequence[Run]) -> list[Run]:
        """The steps kept as they are (their outputs are taken, they are not executed again)."""
        if self.action is not EarlierRunAction.RERUN:
            return list(runs)
        return list(runs[: self.rerun_from])

    def describe(self, runs: Sequence[Run]) -> str:
        """One log line, worded the same in both engines."""
        if self.action is EarlierRunAction.REATTACH:
            return "Re-attached to the Cyberdesk chain of an earlier try (a step is still active)."
        if self.action is EarlierRunAction.REUSE:
            return (
                "Reusing the Cyberdesk chain of an earlier try: every step already succeeded, so "
                "their outputs are taken and nothing is executed again."
            )
        assert self.rerun_from is not None
        first = runs[self.rerun_from]
        kept = self.rerun_from
        return (
            f"The Cyberdesk chain of an earlier try stopped at step {self.rerun_from + 1} (run "
            f"{first.id}, {first.status}); running steps {self.rerun_from + 1}-{len(runs)} "
            f"again in a new chain and reusing the {kept} step(s) before it, which succeeded."
        )


def plan_chain_resume(runs: Sequence[Run], *, rerun_succeeded: bool = False) -> ChainResume:
    """Apply the rule to a chain: steps depend on each other, so they resume as a tail.

    A chain's steps run in order in one session and later steps `$ref` earlier outputs, so a
    step cannot be re-run alone like a bulk run. Succeeded steps before the first step that did
    not succeed are reused (never executed again); that step and every later one run again as a
    new chain, with `$ref`s to reused steps replaced by their outputs (`resolve_refs`).
    """
    if any(not run.is_terminal for run in runs):
        return ChainResume(EarlierRunAction.REATTACH)
    if rerun_succeeded:
        return ChainResume(EarlierRunAction.RERUN, 0)
    for index, run in enumerate(runs):
        if str(run.status) != "success":
            return ChainResume(EarlierRunAction.RERUN, index)
    return ChainResume(EarlierRunAction.REUSE)


_MISSING = object()


def _lookup(outputs: Any, path: Sequence[str]) -> Any:
    value = outputs
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def resolve_refs(value: Any, outputs_by_alias: Mapping[str, Any]) -> Any:
    """Replace `$ref`s to the aliases in `outputs_by_alias` by the values they point at.

    `{"$ref": "export.outputs.total"}` becomes `outputs_by_alias["export"]["total"]`; refs to
    other aliases (steps that run again) and refs whose path is missing stay as they are, so
    Cyberdesk resolves or reports them as it would have.
    """
    ref: str | None = None
    if isinstance(value, RefValue):
        ref = value.ref
    elif isinstance(value, Mapping) and len(value) == 1 and isinstance(value.get("$ref"), str):
        ref = value["$ref"]
    if ref is not None:
        alias, _, rest = ref.partition(".outputs.")
        if alias in outputs_by_alias and rest:
            found = _lookup(outputs_by_alias[alias], rest.split("."))
            if found is not _MISSING:
                return found
        return value
    if isinstance(value, Mapping):
        return {key: resolve_refs(item, outputs_by_alias) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [resolve_refs(item, outputs_by_alias) for item in value]
    return value
