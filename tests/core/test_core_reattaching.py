"""The re-attach rule (`cyberdesk_core.reattaching`, `chain_resuming`): one decision per status,
applied against the emulator over loopback; a MockTransport only for the race a server cannot
produce on demand (the run is re-run by somebody else between the read and the retry)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from core_fakes import FakeAPI, run_json

from cyberdesk_core import (
    AsyncCyberdeskClient,
    ConflictError,
    CyberdeskClient,
    EarlierRunAction,
    Run,
    RunStatus,
    areconcile_earlier_run,
    decide_earlier_run,
    describe_batch,
    plan_chain_resume,
    reconcile_earlier_run,
    reconcile_earlier_runs,
    resume_earlier_chain,
)
from cyberdesk_core.chain_resuming import resolve_refs
from cyberdesk_core.models import RefValue
from cyberdesk_core.waiting import wait_for_run

pytest.importorskip("cyberdesk_emulator")

OK = "00000000-0000-4000-8000-00000000e001"
FAILS = "00000000-0000-4000-8000-00000000e002"
SLOW = "00000000-0000-4000-8000-00000000e003"
SEED = {
    "workflows": [
        {"id": OK, "name": "ok", "behavior": {"duration": 1, "output": {"n": "{{ inputs.n }}"}}},
        {"id": FAILS, "name": "fails", "behavior": {"duration": 1, "outcome": "task_failed"}},
        {"id": SLOW, "name": "slow", "behavior": {"duration": 3600}},
    ],
    "machines": [{"name": f"desk-{i}"} for i in range(4)],
}
RETRY = "POST /v1/runs/{run_id}/retry"


def _run(status: str) -> Run:
    return Run.model_validate(run_json("r", status=status))


@pytest.mark.parametrize(
    ("status", "rerun_succeeded", "action"),
    [
        ("scheduling", False, EarlierRunAction.REATTACH),
        ("running", False, EarlierRunAction.REATTACH),
        ("running_checks", False, EarlierRunAction.REATTACH),
        ("some_future_status", False, EarlierRunAction.REATTACH),
        ("success", False, EarlierRunAction.REUSE),
        ("success", True, EarlierRunAction.RERUN),
        ("task_failed", False, EarlierRunAction.RERUN),
        ("error", False, EarlierRunAction.RERUN),
        ("cancelled", False, EarlierRunAction.RERUN),
        ("running", True, EarlierRunAction.REATTACH),
    ],
)
def test_the_rule(status: str, rerun_succeeded: bool, action: EarlierRunAction) -> None:
    assert decide_earlier_run(_run(status), rerun_succeeded=rerun_succeeded) is action


@pytest.fixture
def emulator(cyberdesk_emulator_factory: Callable[..., Any]) -> Any:
    return cyberdesk_emulator_factory(seed=SEED)


@pytest.fixture
def emu(emulator: Any) -> Iterator[CyberdeskClient]:
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        yield client


def _ended(client: CyberdeskClient, workflow: str, **kwargs: Any) -> Run:
    run = client.runs.create(workflow, **kwargs)
    return wait_for_run(
        client,
        run.id,
        poll_interval=0.02,
        max_poll_interval=0.1,
        timeout=30,
        raise_on_failure=False,
    )


def _retries(emulator: Any) -> int:
    return int(emulator.admin.stats()["requests_by_route"].get(RETRY, 0))


def test_a_succeeded_run_is_reused_not_executed(emulator: Any, emu: CyberdeskClient) -> None:
    run = _ended(emu, OK, input_values={"n": 1})
    outcome = reconcile_earlier_run(emu, run.id, idempotency_key="k-reuse")
    assert outcome.action is EarlierRunAction.REUSE
    assert outcome.run.output_data == {"n": 1}
    assert _retries(emulator) == 0
    assert "not executed again" in outcome.describe()


def test_a_failed_run_runs_again_in_place(emulator: Any, emu: CyberdeskClient) -> None:
    run = _ended(emu, FAILS)
    outcome = reconcile_earlier_run(emu, run.id, idempotency_key="k-rerun")
    assert outcome.action is EarlierRunAction.RERUN
    assert outcome.run.id == run.id
    assert outcome.run.status is RunStatus.SCHEDULING
    assert outcome.earlier.status is RunStatus.TASK_FAILED
    assert _retries(emulator) == 1
    # The same key again (an HTTP retry, a second call of the same try) does not re-run twice.
    # (Whether the re-run is still active or already ended again, the key is replayed.)
    again = reconcile_earlier_run(emu, run.id, idempotency_key="k-rerun")
    assert again.run.id == run.id
    assert emulator.admin.stats()["creates_by_idempotency_key"].get("k-rerun") == 1


def test_rerun_succeeded_runs_a_succeeded_run_again(emulator: Any, emu: CyberdeskClient) -> None:
    run = _ended(emu, OK, input_values={"n": 2})
    outcome = reconcile_earlier_run(emu, run.id, rerun_succeeded=True, idempotency_key="k-again")
    assert outcome.action is EarlierRunAction.RERUN
    assert _retries(emulator) == 1


async def test_an_active_run_is_reattached(emulator: Any, emu: CyberdeskClient) -> None:
    run = emu.runs.create(SLOW)
    async with AsyncCyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        outcome = await areconcile_earlier_run(client, run.id, idempotency_key="k-active")
    assert outcome.action is EarlierRunAction.REATTACH
    assert outcome.reattached
    assert _retries(emulator) == 0


def test_a_batch_is_reconciled_run_by_run(emulator: Any, emu: CyberdeskClient) -> None:
    ok, failed, active = _ended(emu, OK), _ended(emu, FAILS), emu.runs.create(SLOW)
    keys: list[str] = []

    def options(run_id: str) -> Any:
        keys.append(f"k-{run_id}")
        return {"idempotency_key": keys[-1]}

    outcomes = reconcile_earlier_runs(emu, [ok.id, failed.id, active.id], options)
    assert [o.action for o in outcomes] == [
        EarlierRunAction.REUSE,
        EarlierRunAction.RERUN,
        EarlierRunAction.REATTACH,
    ]
    assert _retries(emulator) == 1
    assert describe_batch(outcomes) == (
        "The batch of an earlier try: 1 run(s) re-attached, 1 reused (succeeded, not executed "
        "again), 1 run again with runs.retry."
    )


def test_somebody_else_rerunning_it_is_waited_for(api: FakeAPI, client: CyberdeskClient) -> None:
    """Read as failed, then the retry conflicts: another try already re-runs it."""
    api.queue("GET", "/v1/runs/r", run_json("r", status="error"), run_json("r", status="running"))
    api.queue("POST", "/v1/runs/r/retry", httpx.Response(409, json={"detail": "Run is running"}))
    outcome = reconcile_earlier_run(client, "r", idempotency_key="k")
    assert outcome.action is EarlierRunAction.REATTACH
    assert not outcome.reattached  # it was not this try's active run
    assert outcome.run.status is RunStatus.RUNNING
    assert "already running again" in outcome.describe()


def test_a_conflict_on_a_run_still_ended_is_raised(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue("GET", "/v1/runs/r", run_json("r", status="error"))
    api.queue("POST", "/v1/runs/r/retry", httpx.Response(409, json={"detail": "no"}))
    with pytest.raises(ConflictError):
        reconcile_earlier_run(client, "r", idempotency_key="k")


# --------------------------------------------------------------------------- chains


def test_chain_plans() -> None:
    ok, failed, active = _run("success"), _run("error"), _run("running")
    assert plan_chain_resume([ok, active]).action is EarlierRunAction.REATTACH
    assert plan_chain_resume([ok, ok]).action is EarlierRunAction.REUSE
    plan = plan_chain_resume([ok, failed, ok])
    assert (plan.action, plan.rerun_from) == (EarlierRunAction.RERUN, 1)
    assert plan.reused([ok, failed, ok]) == [ok]
    forced = plan_chain_resume([ok, ok], rerun_succeeded=True)
    assert (forced.action, forced.rerun_from) == (EarlierRunAction.RERUN, 0)


def test_refs_to_reused_steps_are_replaced_by_their_outputs() -> None:
    outputs = {"extract": {"total": 7, "rows": [{"id": "a"}]}}
    value = {
        "amount": {"$ref": "extract.outputs.total"},
        "first": RefValue("extract.outputs.rows.0.id"),
        "later": {"$ref": "post.outputs.x"},  # a step that runs again: stays a ref
        "missing": {"$ref": "extract.outputs.nope"},  # left for Cyberdesk to report
        "plain": [1, {"k": "v"}],
    }
    assert resolve_refs(value, outputs) == {
        "amount": 7,
        "first": "a",
        "later": {"$ref": "post.outputs.x"},
        "missing": {"$ref": "extract.outputs.nope"},
        "plain": [1, {"k": "v"}],
    }


def test_a_chain_resumes_from_its_first_failed_step(emulator: Any, emu: CyberdeskClient) -> None:
    chain = emu.runs.chain(
        [
            {"workflow_id": OK, "session_alias": "extract", "inputs": {"n": 3}},
            {
                "workflow_id": FAILS,
                "session_alias": "post",
                "inputs": {"n": {"$ref": "extract.outputs.n"}},
            },
        ]
    )
    for run_id in chain.run_ids:
        wait_for_run(
            emu,
            run_id,
            poll_interval=0.02,
            max_poll_interval=0.1,
            timeout=30,
            raise_on_failure=False,
        )
    emulator.admin.set_workflow_behavior(OK, {"duration": 1, "output": {"n": "{{ inputs.n }}"}})
    emulator.admin.set_workflow_behavior(
        FAILS, {"duration": 1, "output": {"posted": "{{ inputs.n }}"}}
    )
    resumed = resume_earlier_chain(
        emu, chain.run_ids, lambda index, run: {"idempotency_key": f"k-{index}"}
    )
    assert (resumed.plan.action, resumed.plan.rerun_from) == (EarlierRunAction.RERUN, 1)
    assert [run.id for run in resumed.runs] == chain.run_ids
    assert _retries(emulator) == 1
    post = wait_for_run(
        emu, chain.run_ids[1], poll_interval=0.02, max_poll_interval=0.1, timeout=30
    )
    assert post.output_data == {"posted": 3}
    assert post.input_values == {"n": 3}
    assert post.session_id != resumed.runs[0].session_id
    assert "stopped at step 2" in resumed.describe()
