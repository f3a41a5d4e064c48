"""Bad input catalogue (Airflow): each mistake fails the task (or the DAG definition) with an
error that names the problem and what to do, and nothing is created in Cyberdesk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rel_airflow_env import ECHO_WORKFLOW, POLL, connection_json, new_dag

from cyberdesk_airflow.operators.bulk import CyberdeskBulkRunOperator
from cyberdesk_airflow.operators.chain import CyberdeskChainOperator
from cyberdesk_airflow.operators.run import CyberdeskRunOperator

UNKNOWN = "9d9d9d9d-0000-4000-8000-00000000beef"


@dataclass(frozen=True)
class Case:
    """Builds the bad task inside a DAG; ``words`` must appear in the failure."""

    build: Callable[[], Any]
    words: tuple[str, ...]


def _run(**kwargs: Any) -> Callable[[], Any]:
    def build() -> Any:
        return CyberdeskRunOperator(task_id="bad", poll_interval=POLL, retries=0, **kwargs)

    return build


CASES: dict[str, Case] = {
    "missing-connection": Case(
        _run(workflow_id=ECHO_WORKFLOW, cyberdesk_conn_id="no_such_connection"),
        ("no_such_connection", "isn't defined"),
    ),
    "connection-without-api-key": Case(
        _run(workflow_id=ECHO_WORKFLOW, cyberdesk_conn_id="cyberdesk_nokey"),
        ("cyberdesk_nokey", "no API key", "password field"),
    ),
    "unknown-workflow": Case(
        _run(workflow_id=UNKNOWN), ("Workflow", UNKNOWN, "not found", "Check the ids")
    ),
    "malformed-workflow-uuid": Case(
        _run(workflow_id="monthly-report"), ("workflow_id", "UUID", "Fix these fields")
    ),
    "malformed-ref": Case(
        _run(workflow_id=ECHO_WORKFLOW, input_values={"total": {"$ref": "extract.total"}}),
        ("$ref", "<alias>.outputs.<path>"),
    ),
    "missing-file-input": Case(
        _run(workflow_id=ECHO_WORKFLOW, file_inputs=["/no/such/dir/ledger.csv"]),
        ("file_inputs[0]", "ledger.csv", "does not exist"),
    ),
    "negative-poll-interval": Case(
        lambda: CyberdeskRunOperator(
            task_id="bad", workflow_id=ECHO_WORKFLOW, poll_interval=-5, retries=0
        ),
        ("poll_interval", "positive"),
    ),
    "bulk-count-0": Case(
        lambda: CyberdeskBulkRunOperator(
            task_id="bad", workflow_id=ECHO_WORKFLOW, count=0, poll_interval=POLL, retries=0
        ),
        ("count", "1000"),
    ),
    "bulk-count-1001": Case(
        lambda: CyberdeskBulkRunOperator(
            task_id="bad", workflow_id=ECHO_WORKFLOW, count="1001", poll_interval=POLL, retries=0
        ),
        ("count", "1000"),
    ),
    "bulk-fail-on-typo": Case(
        lambda: CyberdeskBulkRunOperator(
            task_id="bad", workflow_id=ECHO_WORKFLOW, count=2, fail_on="some", retries=0
        ),
        ("fail_on", "some"),
    ),
    "chain-secrets-for-unknown-step": Case(
        lambda: CyberdeskChainOperator(
            task_id="bad",
            steps=[{"workflow_id": ECHO_WORKFLOW, "session_alias": "extract"}],
            step_sensitive_inputs={"extrct": {"pw": "x"}},
            poll_interval=POLL,
            retries=0,
        ),
        ("step_sensitive_inputs", "extrct"),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_task_input_is_named_and_creates_nothing(
    name: str,
    emulator: Any,
    run_dag: Any,
    ti_states: Any,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO")
    monkeypatch.setenv(
        "AIRFLOW_CONN_CYBERDESK_NOKEY", connection_json(emulator.url, "").replace('""', "null")
    )
    emulator.admin.reset_stats()
    case = CASES[name]
    try:
        with new_dag(f"bad_{name.replace('-', '_')}") as dag:
            case.build()
    except Exception as exc:
        # Rejected while the DAG is defined: the best moment, nothing can have run.
        failure = f"{type(exc).__name__}: {exc}"
    else:
        dr = run_dag(dag)
        assert dr.state == "failed"
        assert ti_states(dr)[("bad", -1)][0] == "failed"
        out = capfd.readouterr()
        failure = out.out + out.err + caplog.text
    for word in case.words:
        assert word in failure, (word, failure[-2000:])
    stats = emulator.admin.stats()
    assert stats["runs_created"] == 0
    # Client-side mistakes send nothing; the server rejects the others on the first request.
    creates = sum(n for r, n in stats["requests_by_route"].items() if r.startswith("POST /v1/runs"))
    assert creates <= 1, stats["requests_by_route"]


def test_airflow_catalogue_size() -> None:
    assert len(CASES) >= 10
