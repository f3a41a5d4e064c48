"""The process's watch hub (`cyberdesk_core.watch_hub`), bound to Prefect's task runner.

Prefect waits register with the core hub as they are: `CyberdeskCredentials` is the hub's
`WatchCredentials` (its `get_async_client` builds each shared watcher's client). What Prefect
adds is a way to cancel a wait that raises nothing in its thread: the thread-pool task runner
sets a cancel event per task run when its flow run is cancelled (see `_runner_cancel`), and
the waits here look at it each time they wake up.
"""

from __future__ import annotations

import functools
from typing import TypeVar

from cyberdesk_core import watch_hub
from cyberdesk_core.watch_hub import (
    HUB,
    HubFuture,
    Interrupt,
    RunHints,
    deadline_after,
    in_caller_context,
)
from cyberdesk_prefect._runner_cancel import raise_if_cancelled, task_cancel_event

__all__ = [
    "HUB",
    "RunHints",
    "await_on_hub",
    "deadline_after",
    "in_caller_context",
    "wait_on_hub",
]

T = TypeVar("T")


def _runner_interrupt() -> Interrupt | None:
    """What abandons a wait of the current task run once its task runner cancels it."""
    cancelled = task_cancel_event()
    if cancelled is None:
        return None
    return functools.partial(raise_if_cancelled, cancelled)


def wait_on_hub(future: HubFuture[T]) -> T:
    """Block until `future` is done; cancel it if interrupted (also by the task runner)."""
    return watch_hub.wait_on_hub(future, _runner_interrupt())


async def await_on_hub(future: HubFuture[T]) -> T:
    """Await `future`; inside a thread-pool task runner's task, also see the runner cancel it."""
    return await watch_hub.await_on_hub(future, _runner_interrupt())
