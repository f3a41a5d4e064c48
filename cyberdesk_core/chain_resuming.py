"""Resuming an earlier try's chain: the re-attach rule (`reattaching`) applied step by step.

A chain's steps run in order in one session and later steps `$ref` earlier outputs, so a step
cannot be re-run alone like a bulk run. Steps before the first one that did not succeed are
reused, never executed again; that step and every later one run again in place (`runs.retry`,
same run ids, so a later try still finds the latest execution of every step) in one session,
with their `$ref`s to reused steps replaced by those steps' outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cyberdesk_core import _run_endpoints as run_endpoints
from cyberdesk_core._steps import Steps, asend_steps, send_steps
from cyberdesk_core.models import RefValue, Run
from cyberdesk_core.reattaching import EarlierRunAction

if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient
    from cyberdesk_core.client import CyberdeskClient

__all__ = [
    "ChainResume",
    "ChainResumed",
    "aresume_earlier_chain",
    "plan_chain_resume",
    "resolve_refs",
    "resume_earlier_chain",
]


@dataclass(frozen=True)
class ChainResume:
    """What a new try does with the steps of an earlier try's chain (runs in step order).

    Attributes:
        action: `REATTACH` (a step is still active: wait for all of them), `REUSE` (every step
            succeeded) or `RERUN` (run the steps from `rerun_from` on again, in place).
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
            f"again (runs.retry, same run ids, one new session) and reusing the {kept} step(s) "
            "before it, which succeeded."
        )


def plan_chain_resume(runs: Sequence[Run], *, rerun_succeeded: bool = False) -> ChainResume:
    """Apply the rule to a chain: steps depend on each other, so they resume as a tail.

    A chain's steps run in order in one session and later steps `$ref` earlier outputs, so a
    step cannot be re-run alone like a bulk run. Succeeded steps before the first step that did
    not succeed are reused (never executed again); that step and every later one run again.
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


StepRetryOptions = Callable[[int, Run], run_endpoints.RunRetryOptions]
"""The `runs.retry` options of the chain step at an index: its secrets and a key of its own."""


@dataclass(frozen=True)
class ChainResumed:
    """The outcome of `resume_earlier_chain`.

    Attributes:
        plan: What was done.
        runs: The steps' runs to wait for, in step order (re-read, or as re-run).
        earlier: The steps' runs as they were read, before anything was done.
    """

    plan: ChainResume
    runs: list[Run]
    earlier: list[Run]

    def describe(self) -> str:
        """One log line, worded the same in both engines."""
        return self.plan.describe(self.earlier)


def _resume_steps(
    run_ids: Sequence[str],
    rerun_succeeded: bool,
    step_options: StepRetryOptions,
    session_id: str | None,
) -> Steps[Run, ChainResumed]:
    runs: list[Run] = []
    for run_id in run_ids:
        runs.append((yield run_endpoints.get_run(run_id)))
    plan = plan_chain_resume(runs, rerun_succeeded=rerun_succeeded)
    earlier = list(runs)
    if plan.action is not EarlierRunAction.RERUN:
        return ChainResumed(plan, runs, earlier)
    reused = plan.reused(runs)
    outputs = {run.session_alias: run.output_data for run in reused if run.session_alias}
    session = session_id
    for index in range(len(reused), len(runs)):
        run = runs[index]
        options: dict[str, Any] = dict(step_options(index, run))
        if run.input_values:
            options["input_values"] = resolve_refs(run.input_values, outputs)
        # The tail shares one session (a new one unless the chain's own is still held), so
        # its steps run in order on one machine and `$ref` each other by alias.
        if session is None:
            options["start_session"] = True
        else:
            options["session_id"] = session
        options["session_alias"] = run.session_alias
        runs[index] = yield run_endpoints.retry_run(run.id, **options)
        session = runs[index].session_id
    return ChainResumed(plan, runs, earlier)


def resume_earlier_chain(
    client: CyberdeskClient,
    run_ids: Sequence[str],
    step_options: StepRetryOptions,
    *,
    rerun_succeeded: bool = False,
    session_id: str | None = None,
) -> ChainResumed:
    """Apply the rule to an earlier try's chain (`plan_chain_resume`) and re-run its tail.

    Steps from the first one that did not succeed run again in place with `runs.retry`, in
    order, in one session: `session_id` when the chain's session is still held (it was kept
    after completion, or the chain ran in an existing session), else a new one. Their `$ref`s
    to reused steps are replaced by those steps' outputs; refs among re-run steps stay.

    Args:
        client: The client.
        run_ids: The chain's run ids, in step order.
        step_options: `runs.retry` options per step (secrets, machine, an idempotency key).
        rerun_succeeded: Execute every step again, succeeded ones too (a deliberate request).
        session_id: A session that still holds the chain's machine.
    """
    steps = _resume_steps(run_ids, rerun_succeeded, step_options, session_id)
    return send_steps(client, steps)


async def aresume_earlier_chain(
    client: AsyncCyberdeskClient,
    run_ids: Sequence[str],
    step_options: StepRetryOptions,
    *,
    rerun_succeeded: bool = False,
    session_id: str | None = None,
) -> ChainResumed:
    """Async form of `resume_earlier_chain`."""
    steps = _resume_steps(run_ids, rerun_succeeded, step_options, session_id)
    return await asend_steps(client, steps)
