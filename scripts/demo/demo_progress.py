"""Live progress of the demo: Cyberdesk run status changes and the runners' events, one line each.

A background thread polls the Cyberdesk API for the runs of the demo's workflows created since the
demo started, and prints a line whenever a run appears, changes status or gets a machine. It also
prints the progress events the pipeline runners append to their event files. Nothing else is
printed while the pipelines run; the full engine logs go to files under ``.demo/``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from demo_events import EventTail

from cyberdesk_core import CyberdeskClient, CyberdeskError, Run

POLL_SECONDS = 0.5


class Printer:
    """Prints ``[  12.3s] source     message`` lines, safely from several threads."""

    def __init__(self, started: float, stream: TextIO = sys.stdout) -> None:
        self.started = started
        self.stream = stream
        self._lock = threading.Lock()

    def line(self, source: str, message: str, at: float | None = None) -> None:
        """Print one progress line stamped with the seconds since the demo started."""
        elapsed = (at if at is not None else time.time()) - self.started
        with self._lock:
            self.stream.write(f"[{elapsed:6.1f}s] {source:<9} {message}\n")
            self.stream.flush()


def short(run_id: str) -> str:
    """First 8 characters of an id, as shown in tables and progress lines."""
    return run_id[:8]


class ProgressWatcher(threading.Thread):
    """Polls runs and event files until stopped; remembers every run it saw."""

    def __init__(
        self,
        client: CyberdeskClient,
        printer: Printer,
        workflow_names: dict[str, str],
        machine_names: dict[str, str],
        since: datetime,
        event_files: Iterable[Path],
    ) -> None:
        super().__init__(name="demo-progress", daemon=True)
        self.client = client
        self.printer = printer
        self.workflow_names = workflow_names
        self.machine_names = machine_names
        self.since = since
        self.tails = [EventTail(path) for path in event_files]
        self.runs: dict[str, Run] = {}
        self.stopped = threading.Event()
        self._api_error: str | None = None

    def run(self) -> None:
        while not self.stopped.is_set():
            self.poll()
            self.stopped.wait(POLL_SECONDS)
        self.poll()

    def stop(self) -> None:
        """Stop after one final poll."""
        self.stopped.set()
        self.join(timeout=10)

    def poll(self) -> None:
        """Print new events and run changes."""
        for tail in self.tails:
            for event in tail.read_new():
                # Stamped on arrival (at most one poll late) so the lines stay in time order.
                self.printer.line(event["source"], event["message"])
        for workflow_id in self.workflow_names:
            self._poll_workflow(workflow_id)

    def _poll_workflow(self, workflow_id: str) -> None:
        try:
            page = self.client.runs.list(
                workflow_id=workflow_id, created_at_from=self.since, limit=100
            )
        except CyberdeskError as exc:
            message = f"cannot read runs: {exc}"
            if message != self._api_error:
                self.printer.line("cyberdesk", message)
                self._api_error = message
            return
        self._api_error = None
        for run in sorted(page.items, key=lambda r: r.created_at):
            self._report(run)

    def _report(self, run: Run) -> None:
        before = self.runs.get(run.id)
        self.runs[run.id] = run
        if before is not None and before.status == run.status:
            return
        name = self.workflow_names.get(run.workflow_id, run.workflow_id)
        status = str(getattr(run.status, "value", run.status))
        detail = ""
        if status == "running" and run.machine_id:
            detail = f" on {self.machine_names.get(run.machine_id, short(run.machine_id))}"
        elif run.is_terminal and run.started_at and run.ended_at:
            detail = f" after {(run.ended_at - run.started_at).total_seconds():.1f}s"
            if run.error:
                detail += f": {'; '.join(run.error)}"
        self.printer.line("cyberdesk", f"{name:<38} run {short(run.id)}  {status}{detail}")

    def unfinished(self) -> list[str]:
        """Ids of the runs seen that had not ended at the last poll."""
        return [run.id for run in self.runs.values() if not run.is_terminal]


def names_of(client: CyberdeskClient, workflow_ids: Iterable[str]) -> dict[str, str]:
    """Workflow id -> name (the id itself when the workflow cannot be read)."""
    names: dict[str, str] = {}
    for workflow_id in workflow_ids:
        try:
            workflow: Any = client.workflows.get(workflow_id)
            names[workflow_id] = str(getattr(workflow, "name", None) or workflow_id)
        except CyberdeskError:
            names[workflow_id] = workflow_id
    return names


def machine_names(client: CyberdeskClient) -> dict[str, str]:
    """Machine id -> name for the machines visible to the API key (empty on any error)."""
    try:
        page = client.machines.list(limit=100)
    except CyberdeskError:
        return {}
    return {m.id: str(getattr(m, "name", None) or short(m.id)) for m in page.items}
