"""Wait for one run through the process's shared watcher, cancelling it if abandoned.

Written once as steps (`_steps`): the wait registers with the process's watch hub
(`cyberdesk_core.watch_hub`, bound to Prefect in `_watch_hub`; one poller per credentials for
the whole process) with a `RunNarrator` made in the caller's context, so its lines (status
changes with workflow and machine names, the agent's new steps unless `live_steps` is off) go
to the Prefect run logger; each status change is also emitted once as an event. It cancels
the run if the wait ended before the run did (task `timeout_seconds`, the wait's `timeout`,
flow cancellation). No client is needed to wait; one is opened only to cancel, unless the
driver was lent one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from cyberdesk_core.narrator import RunNarrator
from cyberdesk_core.watch_hub import HubFuture
from cyberdesk_prefect._run_steps import cancel_abandoned
from cyberdesk_prefect._steps import Step, Steps, local
from cyberdesk_prefect._watch_hub import (
    HUB,
    RunHints,
    await_on_hub,
    deadline_after,
    in_caller_context,
    wait_on_hub,
)
from cyberdesk_prefect.observability import get_logger

if TYPE_CHECKING:
    from cyberdesk_core import Run
    from cyberdesk_prefect._run_settings import WaitSettings
    from cyberdesk_prefect.credentials import CyberdeskCredentials
    from cyberdesk_prefect.observability import RunReporter

T = TypeVar("T")


class _Watch:
    """One wait registered with the shared watcher; knows whether its run ended."""

    def __init__(
        self,
        credentials: CyberdeskCredentials,
        run_id: str,
        settings: WaitSettings,
        reporter: RunReporter,
        hints: RunHints | None,
        secrets: Any = (),
    ) -> None:
        self.ended = False
        self._reporter = reporter
        self._run_url = credentials.run_url(run_id)
        self.narrator = narrator_for(settings, secrets=secrets)
        self.future = HUB.submit(
            HUB.watch(
                credentials,
                run_id,
                poll_interval=settings.poll_interval,
                max_poll_interval=settings.max_poll_interval,
                hints=hints,
                deadline=deadline_after(settings.timeout),
                on_status_change=in_caller_context(self._on_change),
                narrator=self.narrator,
            )
        )

    def _on_change(self, run: Run) -> None:
        self.ended = self.ended or bool(run.status.is_terminal)
        # The narrator logs the status line (with names); the reporter emits the event.
        self._reporter.update(run, self._run_url, log=False)

    def done(self, run: Run) -> Run:
        self.ended = True
        self._reporter.update(run, self._run_url, log=False)
        return run


def narrator_for(
    settings: WaitSettings, *, label: str | None = None, secrets: Any = ()
) -> RunNarrator:
    """A narrator writing to the Prefect run logger of the current context.

    Made here, in the caller's context (a flow or task run), so that its lines are written
    where that run's logger is bound even though the watcher calls it from the hub's thread.
    """
    return RunNarrator(
        get_logger().info, live_steps=settings.live_steps, label=label, secrets=secrets or ()
    )


def on_hub(future: HubFuture[T]) -> Step[T]:
    """Block on (or await) the outcome of a watch running on the shared hub."""
    return local(lambda: wait_on_hub(future), lambda: await_on_hub(future))


def wait_for_run(
    credentials: CyberdeskCredentials,
    run_id: str,
    settings: WaitSettings,
    reporter: RunReporter,
    *,
    hints: RunHints | None = None,
    secrets: Any = (),
) -> Steps[Run]:
    """Wait until the run ends (whatever its outcome); cancel it if the wait is abandoned.

    `hints` (taken from the created run) let the watcher batch the run from its first poll;
    `secrets` (the plaintext sensitive values the run was started with) are masked in the
    logged lines; the cancel uses the driver's client (lent, or opened for it).
    """
    watch = _Watch(credentials, run_id, settings, reporter, hints, secrets)
    try:
        return watch.done((yield on_hub(watch.future)))
    except BaseException:
        if not watch.ended and settings.cancel_on_abandon:
            yield cancel_abandoned([run_id])
        raise
