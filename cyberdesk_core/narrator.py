"""`RunNarrator`: what one awaited run is doing, told to a task log while the run goes on.

A narrator is handed to a wait (`RunWatcher.wait(..., narrator=...)`, `HUB.watch`). The watcher
shows it every snapshot of the run it reads anyway (`seen`); the narrator then writes

- a status line on each status change, with the workflow's and machine's names
  (`run_names`: looked up once per process), e.g. ``Cyberdesk run 1c2d… [running] workflow
  'Month-end export' (3f6b…), machine 'FIN-DESK-01' (5d8a…)``;
- with `live_steps`, each new agent step as one line, e.g. ``Cyberdesk run 1c2d… step 4:
  clicked 'Export' (tool computer.left_click)``.

Watching stays cheap. A snapshot the watcher read with GET carries the history: its new steps
are written at no cost. Otherwise the history (large) is read with one GET only when it is due
(`step_progress.progress_due`: the run's status or its listed `usage_metadata` changed, which
the watcher notes without building the run again, or it is running and `slow_interval`
passed), never sooner than `step_interval` after the previous read (nor after
the narrator started: a run shorter than that costs no history read at all), and the watcher
lets at most a few narrators read per tick (`RunPolling.history_budget`), those waiting
longest first. One read writes at most `max_lines` lines; older new steps are counted in one
line instead. Lines are written in the context the narrator was made in, where an engine binds
its task logger. Nothing it does can fail the wait: a failed read is retried at the next due
time.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from cyberdesk_core._status import RunStatus
from cyberdesk_core.errors import CyberdeskError
from cyberdesk_core.run_names import NAMES, NameBook, RunNames
from cyberdesk_core.step_progress import DEFAULT_SLOW_INTERVAL, progress_due
from cyberdesk_core.steps_text import run_agent_steps
from cyberdesk_core.summaries import describe_run

if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient
    from cyberdesk_core.models import Run

__all__ = ["DEFAULT_MAX_LINES", "DEFAULT_STEP_INTERVAL", "RunNarrator"]

logger = logging.getLogger("cyberdesk_core")

#: Seconds between two history reads of one run, at least.
DEFAULT_STEP_INTERVAL = 15.0
#: Step lines written per history read, at most.
DEFAULT_MAX_LINES = 10


class RunNarrator:
    """Writes one awaited run's status changes and, with `live_steps`, its new agent steps.

    `emit` receives each line (an engine's task logger, e.g. ``log.info``); `label` names the
    run in step lines (default its id); `secrets` are plaintext values the caller sent (e.g.
    its `sensitive_input_values`), masked like the run's aliases in every line.
    """

    def __init__(
        self,
        emit: Callable[[str], None],
        *,
        live_steps: bool = True,
        label: str | None = None,
        secrets: Any = (),
        step_interval: float | None = None,
        slow_interval: float = DEFAULT_SLOW_INTERVAL,
        max_lines: int = DEFAULT_MAX_LINES,
        names: NameBook = NAMES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._context = contextvars.copy_context()
        self._emit = emit
        self.live_steps = live_steps
        self._label = label
        self._secrets = secrets
        # Read when the narrator is made (not when this module was), so a deployment (or a
        # test) can change `DEFAULT_STEP_INTERVAL` for every task at once.
        self._step_interval = DEFAULT_STEP_INTERVAL if step_interval is None else step_interval
        self._slow_interval = slow_interval
        self._max_lines = max(max_lines, 1)
        self._names = names
        self._clock = clock
        self._latest: Run | None = None
        self._announced: Any = None
        #: Progress (status, usage as listed) now and at the last history read, and when.
        self._progress: tuple[object, object] | None = None
        self._read_as: tuple[object, object] | None = None
        self._read_at = clock()
        #: Step lines written so far (the history only grows), and history reads sent.
        self.steps_written = 0
        self.history_reads = 0
        self._jobs: list[Callable[[], Awaitable[None]]] = []
        self._worker: asyncio.Task[None] | None = None
        self._reading = False
        self._closed = False

    # -- called by the watcher, on its loop ------------------------------------------------

    def seen(self, run: Run, client: AsyncCyberdeskClient, progress: object = None) -> None:
        """A snapshot of the run was read (`progress`: its `usage_metadata` as last listed,
        which may be newer than the snapshot's): announce a new status (names looked up
        first); a snapshot with its history brings new steps."""
        if self._closed:
            return
        self._latest = run
        self._progress = (run.status, progress if progress is not None else run.usage_metadata)
        if run.run_message_history is not None and self.live_steps:
            # Read with GET (a run alone in the watcher): its history came for free.
            self._read_as, self._read_at = self._progress, self._clock()
            self._in_order(lambda: self.write_steps(run))
        if run.status == self._announced:
            return
        self._announced = run.status
        names = self._names.cached_names(client.base_url, run.workflow_id, run.machine_id)
        if run.status.is_terminal and names is None:
            # The wait ends now; no lookup may delay its last line.
            names = RunNames()
        if names is not None:
            line = f"Cyberdesk {describe_run(run, names)}"
            self._in_order(lambda: self.write(line))
        else:
            self._enqueue(lambda: self._announce(run, client))

    def history_due(self) -> bool:
        """Whether the run's history should be read now (see the module docstring)."""
        run = self._latest
        if not self.live_steps or self._closed or self._reading or run is None:
            return False
        if run.status.is_terminal:
            return False
        waited = self._clock() - self._read_at
        if waited < self._step_interval:
            return False
        return progress_due(
            self._read_as,
            self._progress,
            running=run.status in (RunStatus.RUNNING, RunStatus.RUNNING_CHECKS),
            seconds_since_fetch=waited,
            slow_interval=self._slow_interval,
        )

    @property
    def last_read(self) -> float:
        """Clock time of the last history read (or of the start): the oldest reads first."""
        return self._read_at

    def read_history(self, client: AsyncCyberdeskClient) -> None:
        """Read the run's history once and write its new steps (scheduled, never raising)."""
        if self._latest is None or self._reading:
            return
        self._reading = True
        self._read_as = self._progress
        self._read_at = self._clock()
        run_id = self._latest.id
        self._enqueue(lambda: self._read(run_id, client))

    def close(self) -> None:
        """Stop reading the history (the wait ended); status lines still queued are written."""
        self._closed = True

    # -- lines ------------------------------------------------------------------------------

    def write(self, line: str) -> None:
        """Write one line in the narrator's context (errors of the sink are logged, not raised)."""
        try:
            self._context.run(self._emit, line)
        except Exception:  # a broken sink must not end the wait
            logger.exception("Writing a Cyberdesk log line failed")

    def write_steps(self, run: Run) -> None:
        """Write the steps of `run` (a snapshot with its history) not written yet."""
        lines = run_agent_steps(run, secrets=self._secrets)
        new = lines[self.steps_written :]
        if not new:
            return
        name = self._label or run.id
        skipped = max(len(new) - self._max_lines, 0)
        if skipped:
            first = self.steps_written + 1
            self.write(
                f"Cyberdesk run {name} steps {first}-{first + skipped - 1}: "
                f"{skipped} steps not shown"
            )
        for number, line in enumerate(new[skipped:], start=self.steps_written + skipped + 1):
            self.write(f"Cyberdesk run {name} step {number}: {line}")
        self.steps_written = len(lines)

    async def _announce(self, run: Run, client: AsyncCyberdeskClient) -> None:
        names = await self._names.names_of(client, run.workflow_id, run.machine_id)
        self.write(f"Cyberdesk {describe_run(run, names)}")

    async def _read(self, run_id: str, client: AsyncCyberdeskClient) -> None:
        if self._closed:
            self._reading = False
            return
        self.history_reads += 1
        try:
            full = await client.runs.get(run_id)
        except (CyberdeskError, RuntimeError) as exc:  # RuntimeError: client closed meanwhile
            logger.debug("Reading the history of run %s failed: %s", run_id, exc)
            return
        finally:
            self._reading = False
        if not self._closed:
            self.write_steps(full)

    # -- one worker per narrator keeps lines in order ---------------------------------------

    def _in_order(self, write: Callable[[], None]) -> None:
        """`write` now, or after the lines still queued."""
        if not self._jobs and not self._busy:
            write()
            return

        async def later() -> None:
            write()

        self._enqueue(later)

    def _enqueue(self, job: Callable[[], Awaitable[None]]) -> None:
        self._jobs.append(job)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(
                self._work(), name="cyberdesk-run-narrator"
            )

    @property
    def _busy(self) -> bool:
        return self._worker is not None and not self._worker.done()

    async def _work(self) -> None:
        while self._jobs:
            job = self._jobs.pop(0)
            with contextlib.suppress(Exception):
                await job()
