"""Live agent steps in the task log, failure forensics and run reports, through real ``dag.test()``
runs against the emulator: step lines while the run goes on, names in status lines, no history
read with ``live_steps=False``, a ``task_failed`` run's reason and a screenshot link that downloads
a PNG in the log and the exception, reports and usage in XCom without secrets."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from airflow.sdk import DAG
from conftest import behavior_prompt

from cyberdesk_airflow.operators.bulk import CyberdeskBulkRunOperator
from cyberdesk_airflow.operators.chain import CyberdeskChainOperator
from cyberdesk_airflow.operators.run import CyberdeskRunOperator
from cyberdesk_airflow.sensors import CyberdeskRunSensor
from cyberdesk_airflow.triggers import CyberdeskRunTrigger
from cyberdesk_core.run_names import NAMES

POLL = 0.2
SECRET = "hunter2-" + uuid.uuid4().hex[:8]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Simulated seconds: 8 real seconds at the suite's time scale, four steps two seconds apart.
SLOW = 800
STEPS = [
    {"text": "Opening the ERP", "tool": "computer", "tool_input": {"action": "screenshot"}},
    {
        "text": "Open the export menu",
        "tool": "computer",
        "tool_input": {"action": "left_click", "target": "Export"},
    },
    {"text": "Typing the month", "tool": "computer", "tool_input": {"action": "type"}},
    {"text": "Saving the file", "tool": "computer", "tool_input": {"action": "key"}},
]
HISTORY_READ = "GET /v1/runs/{run_id}"


def new_dag(name: str) -> DAG:
    return DAG(
        f"{name}_{uuid.uuid4().hex[:8]}",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )


#: A task log line as ``dag.test()`` prints it: ``2026-12-03T15:58:19.425190Z [info     ] text``.
TASK_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+)Z \[\w+\s*\] (.*)$", re.MULTILINE)


def timed_lines(output: str) -> list[tuple[float, str]]:
    """The printed task log lines as (seconds since the epoch, text)."""
    return [
        (datetime.fromisoformat(stamp).replace(tzinfo=timezone.utc).timestamp(), text)
        for stamp, text in TASK_LOG_LINE.findall(output)
    ]


def first_time(lines: list[tuple[float, str]], pattern: str) -> float:
    return next(created for created, text in lines if re.search(pattern, text))


@pytest.fixture
def fresh_names() -> None:
    """An empty name book, as a new task process has: in this long test process the book
    listed workflows a moment before this test created its own."""
    NAMES.clear()


@pytest.mark.usefixtures("fresh_names")
@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_steps_appear_while_the_run_goes_on_with_names(
    deferrable: bool,
    client: Any,
    run_dag: Any,
    xcom: Any,
    ti_states: Any,
    printed: Any,
) -> None:
    prompt = behavior_prompt({"duration": SLOW, "steps": STEPS})
    workflow = client.workflows.create(prompt, name="Month-end export").id
    with new_dag("live_steps") as dag:
        CyberdeskRunOperator(
            task_id="run",
            workflow_id=workflow,
            sensitive_input_values={"password": SECRET},
            deferrable=deferrable,
            poll_interval=POLL,
        )
    dr = run_dag(dag)
    assert dr.state == "success", ti_states(dr)
    run_id = xcom(dr, "run", "run_id")
    output = printed()
    lines = timed_lines(output)
    first_step = first_time(lines, rf"Cyberdesk run {run_id} step 1: ")
    ended = first_time(lines, rf"Cyberdesk run {run_id} \[success\]")
    # Steps are two real seconds apart: the first one was logged well before the run ended.
    assert ended - first_step > 4.0, lines
    texts = [text for _, text in lines]
    assert any("clicked 'Export' (tool computer.left_click)" in text for text in texts), texts
    status = next(text for text in texts if re.search(rf"{run_id} \[running\]", text))
    assert "workflow 'Month-end export'" in status
    assert "machine 'desk-" in status
    report = xcom(dr, "run", "cyberdesk_report")
    assert report["status"] == "success"
    assert report["usage"]["agentic_steps"] == len(STEPS)
    assert xcom(dr, "run", "cyberdesk_usage")["agentic_steps"] == len(STEPS)
    assert SECRET not in output + json.dumps(report)


@pytest.mark.usefixtures("fresh_names")
@pytest.mark.parametrize("live_steps", [True, False], ids=["live", "quiet"])
def test_listed_runs_read_history_only_with_live_steps(
    live_steps: bool,
    client: Any,
    run_dag: Any,
    xcom: Any,
    ti_states: Any,
    emulator: Any,
    printed: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two runs of one workflow are polled with list calls: a GET of a run is a history read,
    # due once the narrator's step interval has passed (set to 1 s here; 15 s by default);
    # these runs take 4 s.
    monkeypatch.setattr("cyberdesk_core.narrator.DEFAULT_STEP_INTERVAL", 1.0)
    prompt = behavior_prompt({"duration": 400, "steps": STEPS})
    workflow = client.workflows.create(prompt, name="quiet").id
    with new_dag("bulk_live_steps") as dag:
        CyberdeskBulkRunOperator(
            task_id="bulk", workflow_id=workflow, count=2, live_steps=live_steps, poll_interval=1.0
        )
    emulator.admin.reset_stats()
    dr = run_dag(dag)
    assert dr.state == "success", ti_states(dr)
    bulk_ids = xcom(dr, "bulk", "run_ids")
    texts = [text for _, text in timed_lines(printed())]
    steps = [text for text in texts if re.search(r"Cyberdesk run \S+ step \d+:", text)]
    history_reads = emulator.admin.stats()["requests_by_route"].get(HISTORY_READ, 0)
    if live_steps:
        # A bulk's step lines name each run by its id.
        assert {run_id for run_id in bulk_ids if f"Cyberdesk run {run_id} step " in str(steps)}
        assert history_reads >= 1
    else:
        assert not steps
        assert history_reads == 0
    assert any("[success] workflow 'quiet'" in text for text in texts), texts
    assert xcom(dr, "bulk", "cyberdesk_usage")["agentic_steps"] == 2 * len(STEPS)


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_task_failed_names_the_reason_with_a_screenshot_that_downloads(
    deferrable: bool,
    make_workflow: Any,
    run_dag: Any,
    xcom: Any,
    ti_states: Any,
    printed: Any,
) -> None:
    reason = "The ERP rejected the period: March is closed"
    workflow = make_workflow(
        {"duration": 200, "steps": STEPS, "outcome": "task_failed", "error_message": reason},
        "Month-end import",
    )
    with new_dag("forensics") as dag:
        CyberdeskRunOperator(
            task_id="run",
            workflow_id=workflow,
            sensitive_input_values={"password": SECRET},
            deferrable=deferrable,
            poll_interval=POLL,
        )
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert ti_states(dr)[("run", -1)][0] == "failed"
    output = printed()
    report = xcom(dr, "run", "cyberdesk_report")
    assert report["status"] == "task_failed"
    assert any(reason in step for step in report["last_steps"]), report
    links = [shot["signed_url"] for shot in report["screenshots"] if shot["signed_url"]]
    assert links
    assert all(link in output for link in links[-1:])
    # The exception message (logged with the failure) carries the reason and the link too.
    exception_text = output[output.index("CyberdeskRunFailedError") :]
    assert reason in exception_text
    assert links[-1] in exception_text
    png = httpx.get(links[-1], follow_redirects=True)
    assert png.status_code == 200
    assert png.content.startswith(PNG_SIGNATURE)
    assert SECRET not in output + json.dumps(report)


def test_chain_labels_steps_by_alias_and_sums_usage(
    make_workflow: Any, run_dag: Any, xcom: Any, ti_states: Any, printed: Any
) -> None:
    first = make_workflow({"duration": 200, "steps": STEPS[:2]}, "export")
    second = make_workflow({"duration": 200, "steps": STEPS[2:]}, "import")
    with new_dag("chain_usage") as dag:
        CyberdeskChainOperator(
            task_id="chain",
            steps=[
                {"workflow_id": first, "session_alias": "export"},
                {"workflow_id": second, "session_alias": "import"},
            ],
            poll_interval=POLL,
        )
    dr = run_dag(dag)
    assert dr.state == "success", ti_states(dr)
    output = printed()
    # Alone in the watcher once the first step ended, the second step is read with GET and its
    # steps come with it, named by its alias.
    assert "alias export" in output
    assert "Cyberdesk run import step 1: " in output
    reports = xcom(dr, "chain", "cyberdesk_reports")
    assert [r["usage"]["agentic_steps"] for r in reports] == [2, 2]
    usage = xcom(dr, "chain", "cyberdesk_usage")
    assert (usage["agentic_steps"], usage["runs"]) == (4, 2)
    assert "Cyberdesk usage: 4 agent steps (0 cached) over 2 runs" in output


def test_failed_bulk_reports_every_run_and_quotes_the_failure(
    make_workflow: Any, run_dag: Any, xcom: Any, printed: Any
) -> None:
    reason = "No invoice found"
    workflow = make_workflow(
        {"duration": 100, "steps": STEPS[:1], "outcome": "task_failed", "error_message": reason}
    )
    with new_dag("bulk_failed") as dag:
        CyberdeskBulkRunOperator(task_id="bulk", workflow_id=workflow, count=3, poll_interval=POLL)
    dr = run_dag(dag)
    assert dr.state == "failed"
    reports = xcom(dr, "bulk", "cyberdesk_reports")
    assert len(reports) == 3
    assert {r["status"] for r in reports} == {"task_failed"}
    assert all(r["screenshots"][-1]["signed_url"] for r in reports)
    assert xcom(dr, "bulk", "cyberdesk_usage")["runs"] == 3
    output = printed()
    exception_text = output[output.index("CyberdeskBulkRunFailedError") :]
    assert reason in exception_text
    assert "screenshot " in exception_text


def test_trigger_carries_live_steps_and_labels_but_no_secret(emulator: Any) -> None:
    trigger = CyberdeskRunTrigger(
        run_ids=["r1", "r2"], live_steps=False, run_labels={"r1": "export", "r2": "import"}
    )
    classpath, kwargs = trigger.serialize()
    assert kwargs["live_steps"] is False
    assert kwargs["run_labels"] == {"r1": "export", "r2": "import"}
    assert emulator.api_key not in json.dumps(kwargs)
    rebuilt = CyberdeskRunTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    # An ordinary wait's kwargs stay as they were before live steps existed.
    plain = CyberdeskRunTrigger(run_id="r1").serialize()[1]
    assert "live_steps" not in plain
    assert "run_labels" not in plain


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_sensor_reports_a_failed_run(
    deferrable: bool, make_workflow: Any, client: Any, run_dag: Any, xcom: Any, printed: Any
) -> None:
    reason = "Login refused"
    workflow = make_workflow(
        {"duration": 100, "steps": STEPS[:2], "outcome": "task_failed", "error_message": reason}
    )
    run = client.runs.create(workflow)
    with new_dag("sensor_report") as dag:
        CyberdeskRunSensor(
            task_id="wait", run_id=run.id, poke_interval=POLL, timeout=60, deferrable=deferrable
        )
    dr = run_dag(dag)
    assert dr.state == "failed"
    report = xcom(dr, "wait", "cyberdesk_report")
    assert report["status"] == "task_failed"
    assert report["screenshots"][-1]["signed_url"]
    output = printed()
    exception_text = output[output.index("CyberdeskRunFailedError") :]
    assert reason in exception_text
    assert report["screenshots"][-1]["signed_url"] in exception_text
