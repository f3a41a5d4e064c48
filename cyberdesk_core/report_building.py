"""`build_run_report` / `abuild_run_report`: a `RunReport` from a finished run, written once as
request steps (`_steps`) that the blocking and asyncio clients send.

With `details=False`, none. Otherwise at most three kinds of request: the full run when the one
given lacks its history (a run listed with `fields=`), the run's attachment list when it has
files, and one signed URL per kept screenshot. A failure of any of them leaves that part of the
report out (a missing name, a reference instead of a link): a report never turns a finished run
into a failed task.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cyberdesk_core import _insight_endpoints as insight_endpoints
from cyberdesk_core import _resource_endpoints as resource_endpoints
from cyberdesk_core import _run_endpoints as run_endpoints
from cyberdesk_core._status import RunStatus
from cyberdesk_core._steps import Steps, asend_steps, send_steps
from cyberdesk_core.errors import ConfigurationError, CyberdeskError
from cyberdesk_core.history import parse_history
from cyberdesk_core.run_report import AttachmentRef, RunReport, ScreenshotLink
from cyberdesk_core.steps_text import SecretMask, run_agent_steps
from cyberdesk_core.usage import RunUsage

if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient
    from cyberdesk_core.client import CyberdeskClient
    from cyberdesk_core.models import Run

__all__ = [
    "MAX_DETAILED_REPORTS",
    "abuild_run_report",
    "build_run_report",
    "details_plan",
    "report_steps",
]

_MAX_ATTACHMENTS = 1000
#: Runs of one task (a bulk, a chain) whose reports get the details, at most: each costs a few
#: requests, and a bulk of hundreds of failed runs would otherwise send hundreds.
MAX_DETAILED_REPORTS = 10


def details_plan(runs: Iterable[Run], limit: int = MAX_DETAILED_REPORTS) -> list[bool]:
    """Per finished run, in order, whether its report gets the details (`details=True`): a run
    that did not succeed (`error`, `task_failed`, `cancelled`, a status not known yet), among
    the first `limit` of them. A successful run's report needs no request."""
    plan: list[bool] = []
    for run in runs:
        plan.append(run.status != RunStatus.SUCCESS and sum(plan) < limit)
    return plan


def _screenshots(run: Run, keep: int) -> list[ScreenshotLink]:
    refs = [
        block.image
        for item in parse_history(run.run_message_history)
        for block in item.content
        if block.type == "image" and block.image
    ]
    numbered = [ScreenshotLink(number=n, image_url=url) for n, url in enumerate(refs, start=1)]
    return numbered[-keep:] if keep > 0 else []


def _tool_calls(run: Run) -> int:
    return sum(
        1
        for item in parse_history(run.run_message_history)
        for block in item.content
        if block.type == "tool_use"
    )


def _attachment_ids(run: Run) -> list[AttachmentRef]:
    return [AttachmentRef(id=i, kind="input") for i in run.input_attachment_ids or ()] + [
        AttachmentRef(id=i, kind="output") for i in run.output_attachment_ids or ()
    ]


def report_steps(
    run: Run,
    *,
    last_steps: int = 5,
    sign_screenshots: bool = True,
    max_screenshots: int = 3,
    machine_name: str | None = None,
    run_url: str | None = None,
    expires_in: int = insight_endpoints.MAX_SIGNED_URL_SECONDS,
    secrets: Any = (),
    details: bool = True,
) -> Steps[Any, RunReport]:
    """The request steps that build `run`'s report (see `build_run_report`)."""
    if last_steps < 0 or max_screenshots < 0:
        raise ConfigurationError("last_steps and max_screenshots must be >= 0.")
    if not details:
        sign_screenshots = False
    if details and run.run_message_history is None:
        with contextlib.suppress(CyberdeskError):  # else the report goes without steps
            run = yield run_endpoints.get_run(run.id)
    attachments = _attachment_ids(run)
    if attachments and details:
        try:
            page = yield resource_endpoints.attachment_list(run_id=run.id, limit=_MAX_ATTACHMENTS)
            names = {a.id: a.filename for a in page.items}
            attachments = [a.model_copy(update={"filename": names.get(a.id)}) for a in attachments]
        except CyberdeskError:
            pass  # ids without names
    # Without details nothing is signed, and an unsigned `supabase://` reference opens nowhere.
    screenshots = _screenshots(run, max_screenshots) if details else []
    if sign_screenshots:
        for index, shot in enumerate(screenshots):
            try:
                signed = yield insight_endpoints.image_signed_url(
                    run.id, shot.image_url, expires_in=expires_in
                )
                screenshots[index] = shot.model_copy(update={"signed_url": signed.signed_url})
            except CyberdeskError:
                pass  # the reference stays
    lines = run_agent_steps(run, secrets=secrets)
    mask = SecretMask.for_run(run, secrets)
    return RunReport(
        run_id=run.id,
        workflow_id=run.workflow_id,
        status=run.status.value,
        created_at=run.created_at,
        started_at=run.started_at,
        ended_at=run.ended_at,
        machine_id=run.machine_id,
        machine_name=machine_name,
        session_id=run.session_id,
        session_alias=run.session_alias,
        step_count=_tool_calls(run),
        last_steps=lines[-last_steps:] if last_steps else [],
        error=[mask(str(e)) for e in run.error or ()],
        screenshots=screenshots,
        attachments=attachments,
        usage=RunUsage.from_metadata(run.usage_metadata),
        run_url=run_url,
    )


def build_run_report(
    client: CyberdeskClient,
    run: Run,
    *,
    last_steps: int = 5,
    sign_screenshots: bool = True,
    max_screenshots: int = 3,
    machine_name: str | None = None,
    secrets: Any = (),
    details: bool = True,
) -> RunReport:
    """The `RunReport` of a finished `run`: its last `last_steps` rendered steps, its last
    `max_screenshots` screenshots (signed when `sign_screenshots`), file names and usage.
    `machine_name` is shown next to the machine id when the caller knows it; `secrets` (e.g.
    the `sensitive_input_values` the run was started with) are masked like the run's aliases.
    `details=False` sends no request at all: the report holds what `run` carries (a listed run:
    status, times, machine, session, error, file ids, usage; steps only if it has its history),
    which is what a successful run needs."""
    steps = report_steps(
        run,
        last_steps=last_steps,
        sign_screenshots=sign_screenshots,
        max_screenshots=max_screenshots,
        machine_name=machine_name,
        run_url=client.run_url(run.id),
        secrets=secrets,
        details=details,
    )
    return send_steps(client, steps)


async def abuild_run_report(
    client: AsyncCyberdeskClient,
    run: Run,
    *,
    last_steps: int = 5,
    sign_screenshots: bool = True,
    max_screenshots: int = 3,
    machine_name: str | None = None,
    secrets: Any = (),
    details: bool = True,
) -> RunReport:
    """Asyncio `build_run_report`."""
    steps = report_steps(
        run,
        last_steps=last_steps,
        sign_screenshots=sign_screenshots,
        max_screenshots=max_screenshots,
        machine_name=machine_name,
        run_url=client.run_url(run.id),
        secrets=secrets,
        details=details,
    )
    return await asend_steps(client, steps)
