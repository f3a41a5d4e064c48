"""Whether Prefect's thread-pool task runner has cancelled the current task run.

A deployed or served flow run is cancelled with SIGTERM to its process. The flow engine then
leaves its `ThreadPoolTaskRunner`, which sets a cancel event per task run and waits for the
tasks still running in its threads; nothing interrupts those. A wait in such a thread would
hold the process until the runner's grace period (30 s) ends and it is killed, so no `finally`
cancels the Cyberdesk run (found with mapped tasks of a deployment on a process worker). Waits
watch the task run's event and end as Prefect's own check at task start does.

The events are a private attribute of Prefect's runner (`_cancel_events`, Prefect 3.x); when it
is missing, waits behave as before.
"""

from __future__ import annotations

import asyncio
import threading

from prefect.context import FlowRunContext, TaskRunContext

_MESSAGE = "Task run cancelled by the task runner (its flow run is being cancelled)"


def task_cancel_event() -> threading.Event | None:
    """The event the flow run's task runner sets to cancel the current task run, if any."""
    task_ctx = TaskRunContext.get()
    flow_ctx = FlowRunContext.get()
    if task_ctx is None or flow_ctx is None:
        return None
    events = getattr(flow_ctx.task_runner, "_cancel_events", None)
    event = events.get(task_ctx.task_run.id) if isinstance(events, dict) else None
    return event if isinstance(event, threading.Event) else None


def raise_if_cancelled(event: threading.Event | None) -> None:
    """Raise `asyncio.CancelledError` (what Prefect raises itself) once `event` is set."""
    if event is not None and event.is_set():
        raise asyncio.CancelledError(_MESSAGE)
