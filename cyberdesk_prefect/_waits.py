"""Wait for one run through the process's shared watcher, cancelling it if abandoned.

The sync and the async form differ only in how they block: both register with the process's
watch hub (`cyberdesk_core.watch_hub`, one poller per credentials for the whole process, bound
to Prefect's task runner in `_watch_hub`), log and emit each status change once, and cancel
the run in `finally` if the wait ended before the run did (task timeout, `max_wait_seconds`,
flow cancellation). No client is needed to wait; one is opened only to cancel, unless the
caller lends its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from cyberdesk_prefect._engine import WaitSettings, acancel_abandoned, cancel_abandoned
from cyberdesk_prefect._watch_hub import (
    HUB,
    RunHints,
    await_on_hub,
    deadline_after,
    in_caller_context,
    wait_on_hub,
)

if TYPE_CHECKING:
    from cyberdesk_core import AsyncCyberdeskClient, CyberdeskClient, Run
    from cyberdesk_prefect.credentials import CyberdeskCredentials
    from cyberdesk_prefect.observability import RunReporter


class _Watch:
    """One wait registered with the shared watcher; knows whether its run ended."""

    def __init__(
        self,
        credentials: CyberdeskCredentials,
        run_id: str,
        settings: WaitSettings,
        reporter: RunReporter,
        hints: RunHints | None,
    ) -> None:
        self.ended = False
        self._reporter = reporter
        self._run_url = credentials.run_url(run_id)
        self.future = HUB.submit(
            HUB.watch(
                credentials,
                run_id,
                poll_interval=settings.poll_interval,
                max_poll_interval=settings.max_poll_interval,
                hints=hints,
                deadline=deadline_after(settings.timeout),
                on_status_change=in_caller_context(self._on_change),
            )
        )

    def _on_change(self, run: Run) -> None:
        self.ended = self.ended or bool(run.status.is_terminal)
        self._reporter.update(run, self._run_url)

    def done(self, run: Run) -> Run:
        self.ended = True
        self._reporter.update(run, self._run_url)
        return run


def wait_run(
    credentials: CyberdeskCredentials,
    run_id: str,
    settings: WaitSettings,
    reporter: RunReporter,
    *,
    hints: RunHints | None = None,
    client: CyberdeskClient | None = None,
) -> Run:
    """Wait until the run ends (whatever its outcome); cancel it if the wait is abandoned.

    `hints` (taken from the created run) let the watcher batch the run from its first poll;
    `client` is used for the cancel, else one is opened for it.
    """
    watch = _Watch(credentials, run_id, settings, reporter, hints)
    try:
        return watch.done(wait_on_hub(watch.future))
    finally:
        if not watch.ended and settings.cancel_on_abandon:
            if client is not None:
                cancel_abandoned(client, [run_id])
            else:
                with credentials.get_client() as own:
                    cancel_abandoned(own, [run_id])


async def await_run_end(
    credentials: CyberdeskCredentials,
    run_id: str,
    settings: WaitSettings,
    reporter: RunReporter,
    *,
    hints: RunHints | None = None,
    client: AsyncCyberdeskClient | None = None,
) -> Run:
    """Async form of `wait_run`."""
    watch = _Watch(credentials, run_id, settings, reporter, hints)
    try:
        return watch.done(await await_on_hub(watch.future))
    finally:
        if not watch.ended and settings.cancel_on_abandon:
            await _acancel(credentials, client, run_id)


async def _acancel(
    credentials: CyberdeskCredentials, client: AsyncCyberdeskClient | None, run_id: str
) -> None:
    if client is not None:
        await acancel_abandoned(client, [run_id])
        return
    # Shielded as a whole: the caller's scope is usually cancelled already, and closing the
    # client opened here must not be cut short either.
    with anyio.CancelScope(shield=True):
        async with credentials.get_async_client() as own:
            await acancel_abandoned(own, [run_id])
