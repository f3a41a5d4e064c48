"""Create and finish one run, as steps for `_steps.drive_steps` / `adrive_steps`.

The wait between creating and finishing is `_run_wait`. The Cyberdesk logic itself (requests,
retries, the re-attach rule, terminal statuses) lives in `cyberdesk_core`; these steps add what
Prefect needs around it: idempotency keys tied to the task run, flow-run labels, status logs
and events, artifacts, and cancelling the remote run when a wait is abandoned. Each sequence is
written once; the sync and async tasks and blocks only pick the driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from cyberdesk_core import (
    EarlierRunAction,
    RunTimeoutError,
    acancel_active_runs,
    areconcile_earlier_run,
    cancel_active_runs,
    reconcile_earlier_run,
)
from cyberdesk_prefect._downloads import download_attachments, list_attachment_infos
from cyberdesk_prefect._forensics import raise_with_report, run_reports
from cyberdesk_prefect._idempotency import current_identity, retry_idempotency_key
from cyberdesk_prefect._steps import AsyncClients, Step, Steps, call, local
from cyberdesk_prefect.cancellation import arecord_runs, record_runs
from cyberdesk_prefect.observability import (
    RunReporter,
    acreate_run_artifact,
    create_run_artifact,
    get_logger,
)
from cyberdesk_prefect.results import CyberdeskAttachmentInfo, CyberdeskRunResult

if TYPE_CHECKING:
    from cyberdesk_core import CyberdeskClient, Reconciled, Run
    from cyberdesk_core.run_report import RunReport
    from cyberdesk_prefect._run_settings import FinishSettings, RunOptions
    from cyberdesk_prefect.credentials import CyberdeskCredentials

# How long a best-effort cancel may take while a wait is being abandoned.
_CANCEL_GRACE_SECONDS = 10.0


def _action() -> str:
    return "re-attached" if current_identity().is_retry else "created"


def record(run_ids: Sequence[str], credentials: CyberdeskCredentials) -> Step[None]:
    """Record run ids on the current flow run (for the cancellation hook)."""
    return local(
        lambda: record_runs(run_ids, credentials), lambda: arecord_runs(run_ids, credentials)
    )


def create_run(
    options: RunOptions,
    *,
    idempotency_key: str | None,
    explicit_key: bool,
    credentials: CyberdeskCredentials,
    reporter: RunReporter,
    cancel_on_abandon: bool = True,
) -> Steps[Run]:
    """Create a run, or apply the core's rule to the one an earlier try of this task created.

    A replayed create answers with the original response, so on a retry (or with a caller
    key) `cyberdesk_core.reconcile_earlier_run` reads the run again: active, the task waits
    for it; succeeded, its outputs are reused and it is not executed again (unless
    `rerun_succeeded`); otherwise Cyberdesk retries it (same run id) with a key unique to this
    try. If the task is abandoned after the run exists but before its id is handed back
    (timeout, cancellation), the run is cancelled.
    """
    workflow_id, create_options = options.workflow_id, options.create_kwargs()
    run: Run = yield call(
        lambda c: c.runs.create(workflow_id, idempotency_key=idempotency_key, **create_options),
        lambda c: c.runs.create(workflow_id, idempotency_key=idempotency_key, **create_options),
    )
    try:
        yield record([run.id], credentials)
        reporter.created(run, credentials.run_url(run.id), action=_action())
        if current_identity().is_retry or explicit_key:
            retry_options = {
                **options.retry_kwargs(),
                "idempotency_key": retry_idempotency_key(run.id),
            }
            run_id, rerun = run.id, options.rerun_succeeded
            outcome: Reconciled = yield call(
                lambda c: reconcile_earlier_run(c, run_id, rerun_succeeded=rerun, **retry_options),
                lambda c: areconcile_earlier_run(c, run_id, rerun_succeeded=rerun, **retry_options),
            )
            run = _reconciled(outcome, reporter, credentials.run_url(run.id))
        return run
    except BaseException:
        if cancel_on_abandon and not run.status.is_terminal:
            yield cancel_abandoned([run.id])
        raise


def _reconciled(outcome: Reconciled, reporter: RunReporter, url: str) -> Run:
    """Log what the rule did with an earlier try's run (a first try's own run says nothing)."""
    if current_identity().is_retry or outcome.action is not EarlierRunAction.REATTACH:
        get_logger().info("%s", outcome.describe())
    if outcome.action is EarlierRunAction.RERUN:
        reporter.update(outcome.run, url)
    return outcome.run


def cancel_abandoned(
    run_ids: Sequence[str], *, grace_seconds: float = _CANCEL_GRACE_SECONDS
) -> Step[list[str]]:
    """Best effort: cancel those of `run_ids` still active because their wait ended early.

    Returns the ids this step cancelled. The asyncio form is shielded and bounded by
    `grace_seconds`: the surrounding scope may already be cancelled (task timeout, flow
    cancel), and an unshielded await would be cancelled again before the requests are sent.
    """
    ids = list(run_ids)

    def blocking(client: CyberdeskClient) -> list[str]:
        return _log_abandoned(cancel_active_runs(client, ids, logger=get_logger()))

    async def shielded(clients: AsyncClients) -> list[str]:
        with anyio.CancelScope(shield=True), anyio.move_on_after(grace_seconds):
            client = await clients.get()
            return _log_abandoned(await acancel_active_runs(client, ids, logger=get_logger()))
        return []  # the grace period ran out before the cancels were confirmed

    return Step(lambda clients: blocking(clients.get()), shielded)


def reworded_timeout(error: BaseException, cancelled: Sequence[str]) -> BaseException:
    """`error` itself, or a `RunTimeoutError` that says its run was cancelled when it was.

    The core's timeout message advises to cancel the run; after `cancel_abandoned` cancelled
    it, the core's `after_cancel` wording is the true one (the same as Airflow's).
    """
    if isinstance(error, RunTimeoutError) and error.run_id in cancelled:
        return error.after_cancel().with_traceback(error.__traceback__)
    return error


def _log_abandoned(cancelled: list[str]) -> list[str]:
    if len(cancelled) == 1:
        get_logger().warning(
            "Cancelled Cyberdesk run %s because its wait was abandoned.", cancelled[0]
        )
    elif cancelled:
        get_logger().warning(
            "Cancelled %d Cyberdesk runs because their wait was abandoned.", len(cancelled)
        )
    return cancelled


def _files_wanted(settings: FinishSettings) -> bool:
    return settings.download_to is not None or settings.filesystem is not None


def _has_files(run: Run) -> bool:
    return str(run.status) == "success" and bool(run.output_attachment_ids)


def finish_run(
    credentials: CyberdeskCredentials,
    run: Run,
    settings: FinishSettings,
    *,
    secrets: Any = (),
) -> Steps[CyberdeskRunResult]:
    """Build the result (fetching files of a successful run), create the artifact, raise.

    The result carries the run's usage and report (`_forensics`: a failed run's report is
    logged and completes the raised exception's message; `secrets` are masked in it). A
    client is only used for the files and a failed run's report (the driver's lent one, or
    one opened for them).
    """
    infos: list[CyberdeskAttachmentInfo] = []
    if _has_files(run) and _files_wanted(settings):
        infos = yield from download_attachments(
            run.id,
            destination=settings.download_to,
            filesystem=settings.filesystem,
            folder=settings.filesystem_folder,
        )
    elif _has_files(run):
        infos = yield from list_attachment_infos(run.id)
    report: RunReport | None = (yield run_reports([run], secrets=secrets))[0]
    result = result_of(credentials, run, infos, report=report)
    get_logger().info("Cyberdesk run %s usage: %s", run.id, result.usage.describe())
    if settings.create_artifact:
        yield artifact(result)
    if settings.raise_on_failure:
        raise_with_report(run, report)
    return result


def artifact(result: CyberdeskRunResult) -> Step[None]:
    """Create the markdown artifact of one run."""
    return local(lambda: create_run_artifact(result), lambda: acreate_run_artifact(result))


class RunUrls(Protocol):
    """Anything that knows a run's dashboard URL: the clients and the credentials block."""

    def run_url(self, run_id: str) -> str:
        """Dashboard URL of a run."""


def result_of(
    urls: RunUrls,
    run: Run,
    infos: Sequence[CyberdeskAttachmentInfo] = (),
    *,
    report: RunReport | None = None,
) -> CyberdeskRunResult:
    """The task result for a run (attachment metadata only when `infos` is given)."""
    return CyberdeskRunResult.from_run(
        run,
        run_url=urls.run_url(run.id),
        attachments=list(infos),
        downloaded_paths=[i.path for i in infos if i.path],
        report=report,
    )
