"""Run the monthly financial-reporting DAG once with ``dag.test()`` (inside the Airflow venv).

Started by the demo driver in its own process group, with the Cyberdesk connection in
``AIRFLOW_CONN_CYBERDESK_DEFAULT`` and the example settings in ``CYBERDESK_*`` variables. It
migrates a fresh metadata database in the temporary AIRFLOW_HOME it is given, runs the DAG, reports
task state changes as progress events while the DAG runs, and writes a JSON report of the
Cyberdesk runs, the downloaded files, the validation result and what the month-end close cost in
agent steps (the chain's ``cyberdesk_usage`` XCom).

    python airflow_pipeline.py --home DIR --events FILE --report FILE
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any

from demo_events import EventLog

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "example_dags" / "airflow"
DAG_FILE = DAGS / "monthly_financial_reporting.py"
DAG_ID = "cyberdesk_monthly_financial_reporting"
#: Task states worth a progress line (scheduled/queued would only add noise).
SHOWN_STATES = {"running", "deferred", "success", "failed", "up_for_retry", "skipped"}


def configure(home: Path) -> None:
    """Point Airflow at the temporary home before it is imported."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    sys.path.insert(0, str(DAGS))


def migrate(events: EventLog) -> None:
    """``airflow db migrate`` on the fresh SQLite database (a child in this process group)."""
    events.emit("creating a fresh metadata database (airflow db migrate)")
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run(  # noqa: S603 - fixed argv
        [str(airflow), "db", "migrate"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        timeout=300,
    )
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()  # type: ignore[no-untyped-call]


def load_dag(events: EventLog) -> Any:
    """Parse the DAG file the way the DAG processor does and store it in the metadata DB."""
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    bag = DagBag(dag_folder=str(DAG_FILE))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.get_dag(DAG_ID)
    # sync_bag_to_db reads only these attributes; a stub keeps the other example DAGs out.
    stub: Any = SimpleNamespace(
        dags={DAG_ID: dag},
        import_errors={},
        bundle_path=None,
        dag_warnings=set(),
        file_last_changed={},
    )
    sync_bag_to_db(stub, "dags-folder", None)
    events.emit(f"parsed DAG {DAG_ID}: {len(dag.tasks)} tasks, schedule @monthly")
    return dag


class TaskStateWatcher(threading.Thread):
    """Reports each task instance's state changes while ``dag.test()`` runs."""

    def __init__(self, events: EventLog, task_order: list[str]) -> None:
        super().__init__(name="task-state-watcher", daemon=True)
        self.events = events
        self.order = {task_id: index for index, task_id in enumerate(task_order)}
        self.stopped = threading.Event()
        self._seen: dict[tuple[str, int], str] = {}

    def poll(self) -> None:
        """Emit the states that changed since the last poll."""
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            query = session.query(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state)
            rows = list(query.filter(TaskInstance.dag_id == DAG_ID).all())
        rows.sort(key=lambda row: (self.order.get(row[0], len(self.order)), row[1]))
        for task_id, map_index, state in rows:
            key = (task_id, map_index)
            if str(state) not in SHOWN_STATES or self._seen.get(key) == str(state):
                continue
            self._seen[key] = str(state)
            label = task_id if map_index < 0 else f"{task_id}[{map_index}]"
            self.events.emit(f"task {label}: {state}")

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            try:
                self.poll()
            except Exception:  # noqa: S112 - SQLite may be busy for a moment; next poll retries
                continue

    def stop(self) -> None:
        """Stop polling after one last look."""
        self.stopped.set()
        self.join(timeout=5)
        try:
            self.poll()
        except Exception as exc:
            self.events.emit(f"could not read the final task states: {exc}")


def xcom(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """One XCom value of the finished DAG run (None when absent)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalar(
            XComModel.get_many(
                run_id=dag_run.run_id,
                key=key,
                task_ids=task_id,
                dag_ids=dag_run.dag_id,
                map_indexes=map_index,
            ).with_only_columns(XComModel.value)
        )
    return None if row is None else XComModel.deserialize_value(SimpleNamespace(value=row))


def collect(dag_run: Any) -> dict[str, Any]:
    """Runs, files and validation result of the DAG run, from its XComs."""
    run_ids = xcom(dag_run, "close_the_books", key="run_ids") or []
    files: list[dict[str, Any]] = []
    for index in range(len(run_ids)):
        for item in xcom(dag_run, "download_exports", map_index=index) or []:
            files.append(
                {
                    "run_id": item["run_id"],
                    "filename": item["filename"],
                    "size_bytes": item["size_bytes"],
                    "location": str(item["path"]),
                }
            )
    return {
        "run_ids": run_ids,
        "session_id": xcom(dag_run, "close_the_books", key="session_id"),
        "files": files,
        "validation": xcom(dag_run, "validate_totals"),
        # What the month-end close cost in agent steps, summed over the chain's runs.
        "usage": xcom(dag_run, "close_the_books", key="cyberdesk_usage"),
    }


def describe_cost(usage: dict[str, Any] | None) -> str:
    """``month-end cost: 12 agent steps (3 cached) over 3 runs`` (or that it is unknown)."""
    if not usage:
        return "month-end cost: unknown (no usage reported)"
    from cyberdesk_core.usage import RunUsage

    return f"month-end cost: {RunUsage.model_validate(usage).describe()}"


def failure_message(dag_run: Any) -> str:
    """Failed task ids of the DAG run (the task logs hold the details)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        failed = (
            session.query(TaskInstance.task_id)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, state="failed")
            .all()
        )
    names = ", ".join(sorted({row[0] for row in failed})) or "unknown task"
    return f"DAG run ended {dag_run.state}; failed: {names}"


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    """Run the DAG once and write the report; exit 0 only when the DAG run succeeded."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    events = EventLog(args.events, "airflow")
    started = time.monotonic()
    report: dict[str, Any] = {"engine": "airflow", "ok": False}
    try:
        configure(args.home)
        migrate(events)
        dag = load_dag(events)
        events.emit("running the DAG with dag.test() (deferred tasks run their trigger in-process)")
        watcher = TaskStateWatcher(events, list(dag.task_ids))
        watcher.start()
        try:
            dag_run = dag.test(logical_date=datetime.now(timezone.utc))
        finally:
            watcher.stop()
        report.update(collect(dag_run))
        events.emit(describe_cost(report["usage"]))
        report["ok"] = str(dag_run.state) == "success"
        if not report["ok"]:
            report["error"] = failure_message(dag_run)
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
    report["duration_s"] = round(time.monotonic() - started, 1)
    args.report.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    events.emit("pipeline succeeded" if report["ok"] else f"pipeline FAILED: {report['error']}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
