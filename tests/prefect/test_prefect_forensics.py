"""What a failed run leaves behind, and what runs cost: reports, artifacts, usage.

A `task_failed` run's exception and the flow run's logs name the agent's reason and carry a
signed screenshot link that downloads a PNG; its markdown artifact holds the steps, the error,
the screenshots and the usage. A bulk and a chain each get a table artifact (one row per
run) and results whose usage is summed.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
from prefect import flow
from prefect_flow_runs import artifact_data, artifact_markdown, flow_run_logs
from prefect_seed import POLL, REASON, WATCH, WF_STEPS, WF_STEPS_FAILED
from pydantic import SecretStr

from cyberdesk_core import ChainStep, RunFailedError
from cyberdesk_prefect import (
    CyberdeskCredentials,
    arun_cyberdesk_chain,
    arun_cyberdesk_workflow,
    bulk_create_cyberdesk_runs,
    run_cyberdesk_chain,
    run_cyberdesk_workflow,
    wait_for_cyberdesk_runs,
)
from cyberdesk_prefect.results import CyberdeskChainResult, CyberdeskRunResult

PNG = b"\x89PNG\r\n\x1a\n"
SECRET = "s3cret-ledger-pass-0912"
_SCREENSHOT = re.compile(r"screenshot \d+: (\S+)")


def _assert_png(link: str) -> None:
    assert link.startswith("http"), link
    response = httpx.get(link, timeout=10)
    assert response.status_code == 200
    assert response.content.startswith(PNG)


def _failed_inputs() -> dict[str, Any]:
    return {
        "input_values": {"account": SECRET},
        "sensitive_input_values": {"password": SecretStr(SECRET)},
    }


def test_task_failed_run_names_reason_and_screenshots(credentials: CyberdeskCredentials) -> None:
    @flow
    def import_invoices() -> str:
        try:
            run_cyberdesk_workflow(credentials, WF_STEPS_FAILED, **_failed_inputs(), **POLL)
        except RunFailedError as exc:
            return str(exc)
        raise AssertionError("the run did not fail")

    state = import_invoices(return_state=True)
    message: str = state.result()
    assert REASON in message
    assert "declared the task failed" in message
    links = _SCREENSHOT.findall(message)
    assert links
    _assert_png(links[-1])
    logs = [log.message for log in flow_run_logs(state)]
    report = next(m for m in logs if m.startswith("Cyberdesk run ") and "  error: " in m)
    assert REASON in report
    assert _SCREENSHOT.search(report)
    assert all(SECRET not in m for m in logs)
    assert SECRET not in message
    run_id = message.split()[2]
    markdown = artifact_markdown(run_id)
    for part in ("**task_failed**", "Error", "steps", "Screenshots", "agent steps", REASON):
        assert part in markdown, part
    assert SECRET not in markdown


async def test_async_failed_result_carries_report_and_usage(
    credentials: CyberdeskCredentials,
) -> None:
    @flow
    async def import_invoices() -> CyberdeskRunResult:
        result: CyberdeskRunResult = await arun_cyberdesk_workflow(
            credentials, WF_STEPS_FAILED, **_failed_inputs(), raise_on_failure=False, **POLL
        )
        return result

    state = await import_invoices(return_state=True)
    result: CyberdeskRunResult = await state.aresult()
    assert result.status == "task_failed"
    assert result.report is not None
    assert any(REASON in error for error in result.report.error)
    assert any("declared the task failed" in step for step in result.report.last_steps)
    assert result.report.screenshots
    _assert_png(result.report.screenshots[-1].link)
    assert result.usage.agentic_steps == 3
    assert result.report.usage == result.usage
    dumped = result.model_dump_json()
    assert SECRET not in dumped
    assert json.loads(dumped)["usage"]["agentic_steps"] == 3
    logs = await asyncio.to_thread(flow_run_logs, state)
    assert any(REASON in log.message and "screenshot 1: http" in log.message for log in logs)


def _table(first_run_id: str) -> list[dict[str, Any]]:
    data = artifact_data(f"cyberdesk-table-{first_run_id}")
    rows = json.loads(data) if isinstance(data, str) else data
    assert isinstance(rows, list)
    return rows


def test_bulk_table_artifact_and_summed_usage(credentials: CyberdeskCredentials) -> None:
    @flow
    def batch() -> list[CyberdeskRunResult]:
        created = bulk_create_cyberdesk_runs(
            credentials, WF_STEPS, 3, input_values={"account": "acct"}
        )
        return wait_for_cyberdesk_runs(credentials, created, **WATCH)

    state = batch(return_state=True)
    results: list[CyberdeskRunResult] = state.result()
    assert [r.usage.agentic_steps for r in results] == [4, 4, 4]
    rows = _table(results[0].run_id)
    assert [row["run_id"] for row in rows] == [r.run_id for r in results]
    assert {row["status"] for row in rows} == {"success"}
    assert {row["agentic_steps"] for row in rows} == {4}
    assert all(row["run_page"].endswith(row["run_id"]) for row in rows)
    logs = [log.message for log in flow_run_logs(state)]
    assert "Cyberdesk bulk usage: 12 agent steps (0 cached) over 3 runs" in logs


def _chain_steps() -> list[ChainStep]:
    return [
        ChainStep(WF_STEPS, session_alias="export", inputs={"account": SECRET}),
        ChainStep(
            WF_STEPS_FAILED,
            session_alias="import",
            sensitive_inputs={"password": SecretStr(SECRET)},
        ),
    ]


def _assert_chain(result: CyberdeskChainResult, rows: list[dict[str, Any]]) -> None:
    assert [r.status for r in result.results] == ["success", "task_failed"]
    assert result.usage.agentic_steps == 7
    assert result.usage.runs == 2
    assert [(row["alias"], row["status"]) for row in rows] == [
        ("export", "success"),
        ("import", "task_failed"),
    ]
    assert [row["agentic_steps"] for row in rows] == [4, 3]
    assert REASON in rows[1]["error"]
    assert SECRET not in result.model_dump_json()
    assert SECRET not in json.dumps(rows)


def test_chain_table_usage_and_step_labels(credentials: CyberdeskCredentials) -> None:
    @flow
    def month_end() -> CyberdeskChainResult:
        return run_cyberdesk_chain(credentials, _chain_steps(), raise_on_failure=False, **WATCH)

    state = month_end(return_state=True)
    result: CyberdeskChainResult = state.result()
    _assert_chain(result, _table(result.run_ids[0]))
    logs = [log.message for log in flow_run_logs(state)]
    # Step lines name the chain step by its alias.
    assert any(m.startswith("Cyberdesk run import step ") for m in logs)
    assert "Cyberdesk chain usage: 7 agent steps (0 cached) over 2 runs" in logs
    assert all(SECRET not in m for m in logs)


async def test_async_chain_raises_with_the_failed_steps_report(
    credentials: CyberdeskCredentials,
) -> None:
    @flow
    async def month_end() -> CyberdeskChainResult:
        return await arun_cyberdesk_chain(credentials, _chain_steps(), **WATCH)

    state = await month_end(return_state=True)
    with pytest.raises(RunFailedError) as failed:
        await state.aresult()
    assert REASON in str(failed.value)
    assert _SCREENSHOT.search(str(failed.value))
    assert SECRET not in str(failed.value)


def test_a_report_that_cannot_be_built_never_hides_the_failure(
    credentials: CyberdeskCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("report store unavailable")

    monkeypatch.setattr("cyberdesk_prefect._forensics.report_steps", broken)

    @flow
    def import_invoices() -> str:
        try:
            run_cyberdesk_workflow(credentials, WF_STEPS_FAILED, input_values={}, **POLL)
        except RunFailedError as exc:
            return str(exc)
        raise AssertionError("the run did not fail")

    state = import_invoices(return_state=True)
    message: str = state.result()
    assert "ended with status task_failed" in message
    assert REASON in message
    logs = [log.message for log in flow_run_logs(state)]
    assert any("Could not build the report" in m and "report store unavailable" in m for m in logs)
