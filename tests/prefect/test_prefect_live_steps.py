"""The agent's steps in the flow run's logs while a run goes on, with names, secrets masked.

Real flow runs against the emulator; the logs are read back through the Prefect API, and a
step line's timestamp is compared with the Cyberdesk run's `ended_at`.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from prefect import flow
from prefect.client.schemas.objects import Log
from prefect_flow_runs import artifact_markdown, flow_run_logs
from prefect_seed import POLL, WATCH, WF_STEPS, WF_STEPS_LONG
from pydantic import SecretStr

from cyberdesk_prefect import (
    CyberdeskCredentials,
    CyberdeskWorkflow,
    arun_cyberdesk_workflow,
    bulk_create_cyberdesk_runs,
    run_cyberdesk_workflow,
    wait_for_cyberdesk_runs,
)
from cyberdesk_prefect.results import CyberdeskRunResult

SECRET = "hunter2-account-7731"
SECRET_INPUTS: dict[str, Any] = {
    "input_values": {"account": SECRET},
    "sensitive_input_values": {"password": SecretStr(SECRET)},
}
_RUN_GET = re.compile(r"^GET /v1/runs/\{[^}/]+\}$")


def _step_lines(logs: list[Log]) -> list[Log]:
    return [log for log in logs if re.search(r"^Cyberdesk run \S+ step \d+:", log.message)]


def _run_gets(stats: dict[str, Any]) -> int:
    return sum(n for route, n in stats["requests_by_route"].items() if _RUN_GET.match(route))


def _assert_live(logs: list[Log], result: CyberdeskRunResult) -> None:
    steps = _step_lines(logs)
    assert len(steps) >= 4, [log.message for log in logs]
    assert result.ended_at is not None
    # Written while the run went on, not after it ended.
    assert steps[0].timestamp < result.ended_at
    assert any("clicked 'Export'" in log.message for log in steps)
    status = [log.message for log in logs if "[running] workflow 'month-end export'" in log.message]
    assert status, "no status line naming the workflow"
    # The machine by name when the process's name listing knows it (a machine another test
    # added after that listing is named by id until the listing is repeated).
    assert re.search(r"machine ('machine-\d+' \()?[0-9a-f-]{36}", status[0])


def _assert_no_secret(logs: list[Log], result: CyberdeskRunResult) -> None:
    assert all(SECRET not in log.message for log in logs)
    assert any("[secret]" in log.message for log in _step_lines(logs))
    assert SECRET not in result.model_dump_json()
    assert SECRET not in artifact_markdown(result.run_id)


def test_steps_are_logged_while_the_run_goes_on(credentials: CyberdeskCredentials) -> None:
    @flow
    def month_end() -> CyberdeskRunResult:
        result: CyberdeskRunResult = run_cyberdesk_workflow(
            credentials, WF_STEPS, **SECRET_INPUTS, **POLL
        )
        return result

    state = month_end(return_state=True)
    result: CyberdeskRunResult = state.result()
    logs = flow_run_logs(state)
    _assert_live(logs, result)
    _assert_no_secret(logs, result)
    assert result.usage.agentic_steps == 4
    assert any("usage: 4 agent steps" in log.message for log in logs)


async def test_async_form_logs_steps_live(credentials: CyberdeskCredentials) -> None:
    @flow
    async def month_end() -> CyberdeskRunResult:
        result: CyberdeskRunResult = await arun_cyberdesk_workflow(
            credentials, WF_STEPS, **SECRET_INPUTS, **POLL
        )
        return result

    state = await month_end(return_state=True)
    result: CyberdeskRunResult = await state.aresult()
    logs = await asyncio.to_thread(flow_run_logs, state)
    _assert_live(logs, result)
    _assert_no_secret(logs, result)


def test_workflow_block_logs_steps_and_can_turn_them_off(
    credentials: CyberdeskCredentials,
) -> None:
    block = CyberdeskWorkflow(credentials=credentials, workflow_id=WF_STEPS, **POLL)
    quiet = block.model_copy(update={"live_steps": False})

    @flow
    def both() -> tuple[CyberdeskRunResult, CyberdeskRunResult]:
        return block.run(input_values={"account": "a"}), quiet.run(input_values={"account": "b"})

    state = both(return_state=True)
    loud_result, quiet_result = state.result()
    logs = flow_run_logs(state)
    steps = [log.message for log in _step_lines(logs)]
    assert any(loud_result.run_id in line for line in steps)
    assert not any(quiet_result.run_id in line for line in steps)
    # Status lines are written either way, with names.
    assert any(
        quiet_result.run_id in log.message and "workflow 'month-end export'" in log.message
        for log in logs
    )


@pytest.mark.parametrize("live_steps", [True, False])
def test_batch_reads_history_only_with_live_steps(
    credentials: CyberdeskCredentials,
    admin: Any,
    live_steps: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two runs longer than the narrator's time between history reads (1 s here, 15 s by
    default), polled with list calls. With live steps each run's history is read (GET) while
    it runs and its steps are logged before it ends; without, no step line and fewer GETs than
    runs (a run left alone in the watcher is polled with GET, whatever the setting)."""
    monkeypatch.setattr("cyberdesk_core.narrator.DEFAULT_STEP_INTERVAL", 1.0)
    before = admin.stats()

    @flow
    def batch() -> list[CyberdeskRunResult]:
        created = bulk_create_cyberdesk_runs(
            credentials, WF_STEPS_LONG, 2, input_values={"account": "x"}
        )
        return wait_for_cyberdesk_runs(credentials, created, live_steps=live_steps, **WATCH)

    state = batch(return_state=True)
    results: list[CyberdeskRunResult] = state.result()
    assert {r.status for r in results} == {"success"}
    gets = _run_gets(admin.stats()) - _run_gets(before)
    logs = flow_run_logs(state)
    steps = _step_lines(logs)
    if live_steps:
        assert gets >= 2
        for result in results:
            lines = [log for log in steps if result.run_id in log.message]
            assert lines
            assert result.ended_at is not None
            assert lines[0].timestamp < result.ended_at
    else:
        assert gets < 2
        assert not steps
    assert sum("[success] workflow 'long steps'" in log.message for log in logs) == 2
    assert any("Cyberdesk bulk usage: 8 agent steps" in log.message for log in logs)
