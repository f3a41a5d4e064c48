"""JSON-safe result models returned by the Cyberdesk tasks and blocks.

They hold what a downstream step needs (ids, status, outputs, file metadata, links), what a
run cost (`usage`: agent steps, from the run's `usage_metadata`) and its `RunReport` (steps
rendered with secrets masked; for a failed run also the error and signed screenshot links),
and nothing secret: sensitive input values and aliases, message history and prompts are left
out, so the models are safe to persist as Prefect results. A bulk's and a chain's `usage` is
the sum of their runs'.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, computed_field

from cyberdesk_core.chain_keys import chain_step_key
from cyberdesk_core.run_report import RunReport
from cyberdesk_core.usage import RunUsage, sum_usage
from cyberdesk_prefect._deprecation import warn_renamed

if TYPE_CHECKING:
    from cyberdesk_core import Run, RunAttachment


def _status_value(status: Any) -> str:
    return str(getattr(status, "value", status))


class CyberdeskAttachmentInfo(BaseModel):
    """Metadata of one run attachment (never its content)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Attachment id.")
    filename: str = Field(description="File name as stored by Cyberdesk.")
    size_bytes: int | None = Field(default=None, description="Size in bytes.")
    content_type: str | None = Field(default=None, description="MIME type.")
    attachment_type: str | None = Field(default=None, description="`input` or `output`.")
    path: str | None = Field(
        default=None,
        # Results persisted before the rename carry `local_path`.
        validation_alias=AliasChoices("path", "local_path"),
        description=(
            "Where the file was written (a local file system path, or the path the filesystem "
            "block reported); None if it was not downloaded. Airflow's attachment result has "
            "the same key."
        ),
    )

    @property
    def local_path(self) -> str | None:
        """Deprecated name of `path` (warns)."""
        warn_renamed("CyberdeskAttachmentInfo.local_path", "CyberdeskAttachmentInfo.path")
        return self.path

    @classmethod
    def from_attachment(
        cls, attachment: RunAttachment, path: str | None = None
    ) -> CyberdeskAttachmentInfo:
        """Build the metadata from a core `RunAttachment`."""
        kind = getattr(attachment, "attachment_type", None)
        return cls(
            id=str(attachment.id),
            filename=attachment.filename,
            size_bytes=getattr(attachment, "size_bytes", None),
            content_type=getattr(attachment, "content_type", None),
            attachment_type=_status_value(kind) if kind is not None else None,
            path=path,
        )


class CyberdeskRunResult(BaseModel):
    """The outcome of one Cyberdesk run, safe to persist and to pass between tasks."""

    model_config = ConfigDict(frozen=True)

    run_id: str = Field(description="Cyberdesk run id.")
    workflow_id: str = Field(description="Workflow the run executed.")
    status: str = Field(description="Run status when this result was built.")
    run_url: str = Field(description="Dashboard URL of the run.")
    session_id: str | None = Field(default=None, description="Session the run belongs to.")
    session_alias: str | None = Field(
        default=None, description="Alias under which the run's outputs are addressable."
    )
    machine_id: str | None = Field(default=None, description="Machine that ran it.")
    output_data: dict[str, Any] | None = Field(
        default=None, description="Structured output of the run."
    )
    error: list[str] | None = Field(default=None, description="Error messages of a failed run.")
    output_attachment_ids: list[str] = Field(
        default_factory=list, description="Ids of the files the run exported."
    )
    attachments: list[CyberdeskAttachmentInfo] = Field(
        default_factory=list, description="Metadata of the run's output attachments."
    )
    downloaded_paths: list[str] = Field(
        default_factory=list, description="Local paths or filesystem paths of downloaded files."
    )
    created_at: datetime | None = Field(default=None, description="When the run was created.")
    started_at: datetime | None = Field(default=None, description="When it started running.")
    ended_at: datetime | None = Field(default=None, description="When it ended.")
    usage: RunUsage = Field(
        default_factory=RunUsage, description="Agent steps the run used (from usage_metadata)."
    )
    report: RunReport | None = Field(
        default=None,
        description="The run's report once it ended: last steps, error, screenshots, usage.",
    )

    @property
    def is_terminal(self) -> bool:
        """True once the run reached success, task_failed, error or cancelled."""
        return self.status in ("success", "task_failed", "error", "cancelled")

    @property
    def succeeded(self) -> bool:
        """True if the run ended in `success`."""
        return self.status == "success"

    @property
    def duration_seconds(self) -> float | None:
        """Seconds between start and end (or creation and end when it never started)."""
        start = self.started_at or self.created_at
        if start is None or self.ended_at is None:
            return None
        return max((self.ended_at - start).total_seconds(), 0.0)

    @classmethod
    def from_run(
        cls,
        run: Run,
        *,
        run_url: str,
        attachments: Iterable[CyberdeskAttachmentInfo] = (),
        downloaded_paths: Sequence[str] = (),
        report: RunReport | None = None,
    ) -> CyberdeskRunResult:
        """Build a result from a core `Run`, keeping only non-secret fields."""
        return cls(
            run_id=str(run.id),
            workflow_id=str(run.workflow_id),
            status=_status_value(run.status),
            run_url=run_url,
            session_id=_opt_str(getattr(run, "session_id", None)),
            session_alias=getattr(run, "session_alias", None),
            machine_id=_opt_str(getattr(run, "machine_id", None)),
            output_data=getattr(run, "output_data", None),
            error=list(run.error or []) or None,
            output_attachment_ids=[str(i) for i in (run.output_attachment_ids or [])],
            attachments=list(attachments),
            downloaded_paths=list(downloaded_paths),
            created_at=getattr(run, "created_at", None),
            started_at=getattr(run, "started_at", None),
            ended_at=getattr(run, "ended_at", None),
            usage=report.usage if report else RunUsage.from_metadata(run.usage_metadata),
            report=report,
        )


class CyberdeskBulkResult(BaseModel):
    """Runs created by one bulk request, with their outcomes once waited for."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str = Field(description="Workflow of every run in the batch.")
    run_ids: list[str] = Field(description="Ids of the created runs, in creation order.")
    failed_count: int = Field(default=0, description="Runs the API could not create.")
    errors: list[str] = Field(default_factory=list, description="Creation errors reported.")
    created_at: datetime | None = Field(
        default=None, description="Creation time of the earliest run (for grouped polling)."
    )
    session_id: str | None = Field(default=None, description="Shared session id, if any.")
    results: list[CyberdeskRunResult] = Field(
        default_factory=list, description="Per-run results (filled once waited for)."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def usage(self) -> RunUsage:
        """Agent steps of all the runs, summed (zero until waited for)."""
        return sum_usage(r.usage for r in self.results)

    @property
    def counts(self) -> dict[str, int]:
        """Number of runs per status."""
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts


class CyberdeskChainResult(BaseModel):
    """Runs of a chain executed in one session, in step order."""

    model_config = ConfigDict(frozen=True)

    session_id: str = Field(description="Session shared by all steps.")
    run_ids: list[str] = Field(description="Run ids in step order.")
    results: list[CyberdeskRunResult] = Field(
        default_factory=list, description="Per-step results (filled once waited for)."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def usage(self) -> RunUsage:
        """Agent steps of all the steps, summed (zero until waited for)."""
        return sum_usage(r.usage for r in self.results)

    @property
    def by_alias(self) -> dict[str, CyberdeskRunResult]:
        """Step results keyed by their session alias, ``step_<n>`` (1-based) for a step without
        one: the same keys as the Airflow chain operator's result (`chain_step_key`)."""
        return {chain_step_key(r.session_alias, i): r for i, r in enumerate(self.results)}

    @property
    def outputs(self) -> dict[str, dict[str, Any] | None]:
        """`output_data` of each step, keyed like `by_alias`."""
        return {key: r.output_data for key, r in self.by_alias.items()}


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
