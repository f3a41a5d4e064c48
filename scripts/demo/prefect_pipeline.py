"""Run the monthly financial-reporting flow once (inside the Prefect venv).

Started by the demo driver in its own process group with a temporary PREFECT_HOME and no
PREFECT_API_URL, so Prefect starts its ephemeral API server (a child process in this group) on a
fresh SQLite database. The Cyberdesk API key and URL arrive in ``CYBERDESK_API_KEY`` /
``CYBERDESK_BASE_URL``; they are saved as a ``CyberdeskCredentials`` block, which the flow loads by
name, as a deployment would. Task state changes are reported as progress events; a JSON report of
the Cyberdesk runs, the downloaded files and the validation result is written at the end.

    python prefect_pipeline.py --home DIR --events FILE --report FILE --month YYYY-MM [--go FILE]

With ``--go FILE`` the runner prepares everything (server, block) and then waits until FILE exists
before it runs the flow, so the driver can overlap this start-up with the Airflow pipeline.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from demo_events import EventLog

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "example_dags" / "prefect"
CREDENTIALS_BLOCK = "cyberdesk-demo"
#: Task-run states worth a progress line (pending/scheduled would only add noise).
SHOWN_STATES = {"Running", "Completed", "Failed", "Crashed", "Retrying", "Cancelled"}


def configure(home: Path) -> None:
    """Point Prefect at the temporary home before it is imported."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "true"
    # A fresh database is migrated at start-up; on a busy 2-core machine that can take a while.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.pop("PREFECT_PROFILES_PATH", None)
    sys.path.insert(0, str(FLOWS))


def save_credentials(events: EventLog) -> None:
    """Store the API key as a credentials block and point the flow at it."""
    from cyberdesk_prefect import CyberdeskCredentials

    api_key = os.environ.pop("CYBERDESK_API_KEY")
    base_url = os.environ.pop("CYBERDESK_BASE_URL")
    credentials = CyberdeskCredentials(api_key=api_key, base_url=base_url)
    credentials.save(CREDENTIALS_BLOCK, overwrite=True)
    os.environ["CYBERDESK_CREDENTIALS_BLOCK"] = CREDENTIALS_BLOCK
    events.emit(f"saved CyberdeskCredentials block {CREDENTIALS_BLOCK!r} ({base_url})")


class TaskStateWatcher(threading.Thread):
    """Reports each task run's state changes while the flow runs (reads the Prefect API)."""

    def __init__(self, events: EventLog) -> None:
        super().__init__(name="task-state-watcher", daemon=True)
        self.events = events
        self.stopped = threading.Event()
        self._seen: dict[str, str] = {}

    def poll(self, client: Any) -> None:
        from prefect.client.schemas.sorting import TaskRunSort

        """Emit the states that changed since the last poll."""
        for task_run in client.read_task_runs(sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=200):
            state = task_run.state.name if task_run.state else None
            if state not in SHOWN_STATES or self._seen.get(str(task_run.id)) == state:
                continue
            self._seen[str(task_run.id)] = state
            self.events.emit(f"task {task_run.name}: {state.lower()}")

    def run(self) -> None:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            while not self.stopped.wait(0.5):
                try:
                    self.poll(client)
                except Exception:  # noqa: S112 - the server may be busy; the next poll retries
                    continue
            self.poll(client)

    def stop(self) -> None:
        """Stop polling after one last look."""
        self.stopped.set()
        self.join(timeout=10)


def run_flow(events: EventLog, flow: Any, month: str) -> dict[str, Any]:
    """Run the flow once and return its result, or raise with the failure."""
    events.emit(f"running flow {flow.name} for {month}")
    state = flow(month=month, return_state=True)
    if not state.is_completed():
        # result() re-raises the flow's exception with its message.
        state.result()
        raise RuntimeError(f"flow run ended {state.type.value}")
    result: dict[str, Any] = state.result()
    return result


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    """Run the flow once and write the report; exit 0 only when the flow run succeeded."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--month", required=True)
    parser.add_argument("--go", type=Path, help="wait for this file before running the flow")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    events = EventLog(args.events, "prefect")
    started = time.monotonic()
    report: dict[str, Any] = {"engine": "prefect", "ok": False}
    try:
        configure(args.home)
        events.emit("starting a temporary Prefect API server (ephemeral mode)")
        save_credentials(events)
        from monthly_financial_reporting import monthly_financial_reporting

        if args.go is not None and not args.go.exists():
            events.emit("ready; the flow starts when the Airflow pipeline has finished")
            while not args.go.exists():
                time.sleep(0.2)
        watcher = TaskStateWatcher(events)
        watcher.start()
        try:
            result = run_flow(events, monthly_financial_reporting, args.month)
        finally:
            watcher.stop()
        usage = result["usage"]
        events.emit(
            f"month-end cost {usage['agentic_steps']} agent steps "
            f"({usage['cached_steps']} cached) over {usage['runs']} runs"
        )
        report.update(
            usage=usage,
            run_ids=result["run_ids"],
            session_id=result["session_id"],
            validation=result["report"],
            files=[
                {
                    "run_id": None,
                    "filename": item["filename"],
                    "size_bytes": item["size_bytes"],
                    "location": item["path"],
                }
                for item in result["files"]
            ],
            ok=True,
        )
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
    report["duration_s"] = round(time.monotonic() - started, 1)
    args.report.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    events.emit("pipeline succeeded" if report["ok"] else f"pipeline FAILED: {report['error']}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
