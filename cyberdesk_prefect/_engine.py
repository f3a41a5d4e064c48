"""Create and finish a run (the wait between them is `_waits`), for the tasks and the block.

Each step has a sync and an async form with the same behaviour. The Cyberdesk logic itself
(requests, retries, polling, terminal statuses) lives in `cyberdesk_core`; this module adds
what Prefect needs around it: idempotency keys tied to the task run, flow-run labels,
status logs and events, artifacts, and cancelling the remote run when a wait is abandoned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from cyberdesk_core import (
    ConfigurationError,
    EarlierRunAction,
    acancel_active_runs,
    cancel_active_runs,
    raise_for_run_status,
)
from cyberdesk_core.inputs import normalize_file_inputs, validate_timeouts
from cyberdesk_prefect._downloads import (
    adownload_attachments,
    alist_attachment_infos,
    download_attachments,
    list_attachment_infos,
)
from cyberdesk_prefect._idempotency import current_identity, retry_idempotency_key
from cyberdesk_prefect.cancellation import arecord_runs, record_runs
from cyberdesk_prefect.observability import (
    RunReporter,
    acreate_run_artifact,
    create_run_artifact,
    get_logger,
)
from cyberdesk_prefect.results import CyberdeskAttachmentInfo, CyberdeskRunResult

if TYPE_CHECKING:
    from prefect.filesystems import WritableFileSystem

    from cyberdesk_core import AsyncCyberdeskClient, CyberdeskClient, Reconciled, Run
    from cyberdesk_prefect.credentials import CyberdeskCredentials

# How long a best-effort cancel may take while a wait is being abandoned.
_CANCEL_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class RunOptions:
    """Everything needed to create (or re-execute) one run; secrets stay wrapped."""

    workflow_id: str
    input_values: Mapping[str, Any] | None = None
    sensitive_input_values: Mapping[str, Any] | None = field(default=None, repr=False)
    file_inputs: Sequence[Any] | None = None
    machine_id: str | None = None
    pool_ids: Sequence[str] | None = None
    session_id: str | None = None
    start_session: bool | None = None
    session_alias: str | None = None
    release_session_after: bool | None = None
    is_priority: bool | None = None
    main_prompt: str | None = None
    model_metadata: Mapping[str, Any] | None = None
    #: Execute an earlier try's succeeded run again (never done on an automatic retry).
    rerun_succeeded: bool = False

    def normalized(self) -> RunOptions:
        """Validate file inputs early (paths/bytes -> FileInput) so errors name the field."""
        return replace(self, file_inputs=normalize_file_inputs(self.file_inputs))

    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `client.runs.create` (minus `workflow_id`)."""
        return {
            "input_values": self.input_values,
            "sensitive_input_values": self.sensitive_input_values,
            "file_inputs": self.file_inputs,
            "machine_id": self.machine_id,
            "pool_ids": self.pool_ids,
            "session_id": self.session_id,
            "start_session": self.start_session,
            "session_alias": self.session_alias,
            "release_session_after": self.release_session_after,
            "is_priority": self.is_priority,
            "main_prompt": self.main_prompt,
            "model_metadata": self.model_metadata,
        }

    def retry_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `client.runs.retry` when re-executing an ended run.

        Secrets are re-sent (Cyberdesk deletes them when a run ends); input files are kept on
        the run, so they are not uploaded again. A run that started its own session starts a
        fresh one, since the old session may have been released.
        """
        return {
            "input_values": self.input_values,
            "sensitive_input_values": self.sensitive_input_values,
            "machine_id": self.machine_id,
            "pool_ids": self.pool_ids,
            "start_session": True if self.start_session else None,
            "session_alias": self.session_alias if self.start_session else None,
            "release_session_after": self.release_session_after,
            "is_priority": self.is_priority,
        }


@dataclass(frozen=True)
class WaitSettings:
    """How to wait for a run."""

    poll_interval: float = 5.0
    max_poll_interval: float = 30.0
    timeout: float | None = None
    cancel_on_abandon: bool = True

    def __post_init__(self) -> None:
        # Errors name the task parameters the user actually set.
        validate_timeouts(
            poll_interval_seconds=self.poll_interval,
            max_poll_interval_seconds=self.max_poll_interval,
            max_wait_seconds=self.timeout,
        )
        if self.max_poll_interval < self.poll_interval:
            raise ConfigurationError(
                f"max_poll_interval_seconds ({self.max_poll_interval}) must be >= "
                f"poll_interval_seconds ({self.poll_interval})."
            )


@dataclass(frozen=True)
class FinishSettings:
    """What to do once a run ended."""

    raise_on_failure: bool = True
    download_to: str | Path | None = None
    filesystem: WritableFileSystem | None = None
    filesystem_folder: str = ""
    create_artifact: bool = True


def _action() -> str:
    return "re-attached" if current_identity().is_retry else "created"


# --------------------------------------------------------------------------- create


def create_run(
    client: CyberdeskClient,
    options: RunOptions,
    *,
    idempotency_key: str | None,
    explicit_key: bool,
    credentials: CyberdeskCredentials | None,
    reporter: RunReporter,
    cancel_on_abandon: bool = True,
) -> Run:
    """Create a run, or apply the core's rule to the one an earlier try of this task created.

    A replayed create answers with the original response, so on a retry (or with a caller
    key) `cyberdesk_core.reconcile_earlier_run` reads the run again: active, the task waits
    for it; succeeded, its outputs are reused and it is not executed again (unless
    `rerun_succeeded`); otherwise Cyberdesk retries it (same run id) with a key unique to this
    try. If the task is abandoned after the run exists but before its id is handed back
    (timeout, cancellation), the run is cancelled.
    """
    from cyberdesk_core import reconcile_earlier_run

    run = client.runs.create(
        options.workflow_id, idempotency_key=idempotency_key, **options.create_kwargs()
    )
    try:
        record_runs([run.id], credentials)
        reporter.created(run, client.run_url(run.id), action=_action())
        if current_identity().is_retry or explicit_key:
            outcome = reconcile_earlier_run(
                client,
                run.id,
                rerun_succeeded=options.rerun_succeeded,
                **_retry_options(options, run.id),
            )
            run = _reconciled(outcome, reporter, client.run_url(run.id))
        return run
    except BaseException:
        if cancel_on_abandon and not run.status.is_terminal:
            cancel_abandoned(client, [run.id])
        raise


async def acreate_run(
    client: AsyncCyberdeskClient,
    options: RunOptions,
    *,
    idempotency_key: str | None,
    explicit_key: bool,
    credentials: CyberdeskCredentials | None,
    reporter: RunReporter,
    cancel_on_abandon: bool = True,
) -> Run:
    """Async form of `create_run`."""
    from cyberdesk_core import areconcile_earlier_run

    run = await client.runs.create(
        options.workflow_id, idempotency_key=idempotency_key, **options.create_kwargs()
    )
    try:
        await arecord_runs([run.id], credentials)
        reporter.created(run, client.run_url(run.id), action=_action())
        if current_identity().is_retry or explicit_key:
            outcome = await areconcile_earlier_run(
                client,
                run.id,
                rerun_succeeded=options.rerun_succeeded,
                **_retry_options(options, run.id),
            )
            run = _reconciled(outcome, reporter, client.run_url(run.id))
        return run
    except BaseException:
        if cancel_on_abandon and not run.status.is_terminal:
            await acancel_abandoned(client, [run.id])
        raise


def _retry_options(options: RunOptions, run_id: str) -> dict[str, Any]:
    return {**options.retry_kwargs(), "idempotency_key": retry_idempotency_key(run_id)}


def _reconciled(outcome: Reconciled, reporter: RunReporter, url: str) -> Run:
    """Log what the rule did with an earlier try's run (a first try's own run says nothing)."""
    if current_identity().is_retry or outcome.action is not EarlierRunAction.REATTACH:
        get_logger().info("%s", outcome.describe())
    if outcome.action is EarlierRunAction.RERUN:
        reporter.update(outcome.run, url)
    return outcome.run


# --------------------------------------------------------------------------- cancel


def cancel_abandoned(client: CyberdeskClient, run_ids: Sequence[str]) -> None:
    """Best effort: cancel those of `run_ids` still active because their wait ended early."""
    _log_abandoned(cancel_active_runs(client, run_ids, logger=get_logger()))


async def acancel_abandoned(
    client: AsyncCyberdeskClient,
    run_ids: Sequence[str],
    *,
    grace_seconds: float = _CANCEL_GRACE_SECONDS,
) -> None:
    """Async `cancel_abandoned`, shielded and bounded by `grace_seconds`."""
    # Shielded: the surrounding scope may already be cancelled (task timeout, flow cancel),
    # and an unshielded await would be cancelled again before the requests are sent.
    with anyio.CancelScope(shield=True), anyio.move_on_after(grace_seconds):
        _log_abandoned(await acancel_active_runs(client, run_ids, logger=get_logger()))


def _log_abandoned(cancelled: list[str]) -> None:
    if len(cancelled) == 1:
        get_logger().warning(
            "Cancelled Cyberdesk run %s because its wait was abandoned.", cancelled[0]
        )
    elif cancelled:
        get_logger().warning(
            "Cancelled %d Cyberdesk runs because their wait was abandoned.", len(cancelled)
        )


# --------------------------------------------------------------------------- finish


def _files_wanted(settings: FinishSettings) -> bool:
    return settings.download_to is not None or settings.filesystem is not None


def _has_files(run: Run) -> bool:
    return str(run.status) == "success" and bool(run.output_attachment_ids)


def finish_run(
    credentials: CyberdeskCredentials,
    run: Run,
    settings: FinishSettings,
    *,
    client: CyberdeskClient | None = None,
) -> CyberdeskRunResult:
    """Build the result (fetching files of a successful run), create the artifact, raise.

    A client is only needed for the files: `client` if given, else one opened for them.
    """
    infos: list[CyberdeskAttachmentInfo] = []
    if _has_files(run):
        with contextlib.ExitStack() as stack:
            used = client or stack.enter_context(credentials.get_client())
            if _files_wanted(settings):
                infos = download_attachments(
                    used,
                    run.id,
                    destination=settings.download_to,
                    filesystem=settings.filesystem,
                    folder=settings.filesystem_folder,
                )
            else:
                infos = list_attachment_infos(used, run.id)
    result = result_of(credentials, run, infos)
    if settings.create_artifact:
        create_run_artifact(result)
    if settings.raise_on_failure:
        raise_for_run_status(run)
    return result


async def afinish_run(
    credentials: CyberdeskCredentials,
    run: Run,
    settings: FinishSettings,
    *,
    client: AsyncCyberdeskClient | None = None,
) -> CyberdeskRunResult:
    """Async form of `finish_run`."""
    infos: list[CyberdeskAttachmentInfo] = []
    if _has_files(run):
        async with contextlib.AsyncExitStack() as stack:
            used = client
            if used is None:
                used = await stack.enter_async_context(credentials.get_async_client())
            if _files_wanted(settings):
                infos = await adownload_attachments(
                    used,
                    run.id,
                    destination=settings.download_to,
                    filesystem=settings.filesystem,
                    folder=settings.filesystem_folder,
                )
            else:
                infos = await alist_attachment_infos(used, run.id)
    result = result_of(credentials, run, infos)
    if settings.create_artifact:
        await acreate_run_artifact(result)
    if settings.raise_on_failure:
        raise_for_run_status(run)
    return result


class RunUrls(Protocol):
    """Anything that knows a run's dashboard URL: the clients and the credentials block."""

    def run_url(self, run_id: str) -> str:
        """Dashboard URL of a run."""


def result_of(
    urls: RunUrls, run: Run, infos: Sequence[CyberdeskAttachmentInfo] = ()
) -> CyberdeskRunResult:
    """The task result for a run (attachment metadata only when `infos` is given)."""
    return CyberdeskRunResult.from_run(
        run,
        run_url=urls.run_url(run.id),
        attachments=list(infos),
        downloaded_paths=[i.local_path for i in infos if i.local_path],
    )
