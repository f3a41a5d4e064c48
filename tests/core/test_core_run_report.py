"""`RunReport` built once per finished run: steps, screenshots, files, usage, and no secrets.

The emulator does not serve signed screenshot URLs yet, so these answers come from `respx`;
the report of a real emulator run is checked in `test_core_emulator_report.py`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from core_fakes import API_KEY, BASE_URL, T0, page_json, run_json

from cyberdesk_core import (
    AsyncCyberdeskClient,
    ConfigurationError,
    CyberdeskClient,
    Run,
    RunReport,
    RunUsage,
    abuild_run_report,
    build_run_report,
    sum_report_usage,
)

RUN = "run-1"
VAULT_ALIAS = "tok_vault_5be1"
TYPED_SECRET = "p4ss-plaintext"


def _history(shots: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for n in range(1, shots + 1):
        items.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": f"step {n} with {VAULT_ALIAS}"},
                    {
                        "type": "tool_use",
                        "tool_name": "computer",
                        "tool_input": {
                            "action": "type",
                            "target": "Password",
                            "text": TYPED_SECRET,
                        },
                    },
                ],
            }
        )
        items.append(
            {
                "role": "user",
                "content": [{"type": "image", "image_url": f"supabase://run-images/{n}.png"}],
            }
        )
    items.append(
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "tool_name": "declare_task_failed",
                    "tool_input": {"reason": "the ledger is locked"},
                }
            ],
        }
    )
    return items


FINISHED = run_json(
    RUN,
    status="task_failed",
    machine_id="m-1",
    session_id="s-1",
    session_alias="export",
    started_at=(T0 + timedelta(seconds=30)).isoformat(),
    ended_at=(T0 + timedelta(seconds=630)).isoformat(),
    error=[f"Task failed: the ledger is locked ({VAULT_ALIAS})"],
    run_message_history=_history(4),
    sensitive_input_aliases={"password": VAULT_ALIAS},
    input_values={"month": "2026-10"},
    input_attachment_ids=["att-in"],
    output_attachment_ids=["att-out"],
    usage_metadata={"total_agentic_steps": 5, "total_cached_steps": 1},
)


def _attachment(ident: str, filename: str, kind: str) -> dict[str, Any]:
    return {
        "id": ident,
        "run_id": RUN,
        "filename": filename,
        "content_type": "text/csv",
        "attachment_type": kind,
        "size_bytes": 10,
    }


ATTACHMENTS = page_json(
    [_attachment("att-in", "rates.csv", "input"), _attachment("att-out", "ledger.csv", "output")]
)


def _signed(request: httpx.Request) -> httpx.Response:
    url = request.url.params["image_url"]
    if url.endswith("/3.png"):
        return httpx.Response(500, json={"detail": "storage down"})
    return httpx.Response(
        200,
        json={
            "supabase_url": url,
            "signed_url": f"https://files.test/{url[-5:]}?t=1",
            "expires_in": 3600,
        },
    )


@pytest.fixture
def mocked() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        router.get(f"/v1/runs/{RUN}").respond(json=FINISHED)
        router.get("/v1/run-attachments").respond(json=ATTACHMENTS)
        router.get(f"/v1/runs/{RUN}/image/signed-url").mock(side_effect=_signed)
        yield router


def _client() -> CyberdeskClient:
    return CyberdeskClient(API_KEY, base_url=BASE_URL, max_retries=0)


def _check_report(report: RunReport) -> None:
    assert report.status == "task_failed"
    assert (report.queued_seconds, report.running_seconds) == (30.0, 600.0)
    assert report.machine == "desk-7 (m-1)"
    assert (report.session_id, report.session_alias) == ("s-1", "export")
    assert report.step_count == 5
    assert len(report.last_steps) == 3
    assert report.last_steps[-1] == (
        "declared the task failed: the ledger is locked (tool declare_task_failed)"
    )
    # The last two screenshots: number 3 could not be signed and keeps its reference.
    assert [(s.number, s.link) for s in report.screenshots] == [
        (3, "supabase://run-images/3.png"),
        (4, "https://files.test/4.png?t=1"),
    ]
    assert [(a.kind, a.filename) for a in report.attachments] == [
        ("input", "rates.csv"),
        ("output", "ledger.csv"),
    ]
    assert report.usage == RunUsage(agentic_steps=5, cached_steps=1, runs=1)
    dumped = json.dumps(report.model_dump(mode="json"))
    text = dumped + report.to_markdown() + "\n".join(report.to_log_lines())
    for secret in (VAULT_ALIAS, TYPED_SECRET, "2026-10"):
        assert secret not in text
    assert "[secret]" in report.error[0]


def test_build_report_fetches_history_names_and_links(mocked: respx.MockRouter) -> None:
    listed = Run.model_validate(run_json(RUN, status="task_failed"))  # as listed: no history
    with _client() as client:
        report = build_run_report(
            client, listed, last_steps=3, max_screenshots=2, machine_name="desk-7"
        )
    _check_report(report)
    assert report.run_url
    assert RUN in report.run_url


async def test_abuild_report_matches(mocked: respx.MockRouter) -> None:
    async with AsyncCyberdeskClient(API_KEY, base_url=BASE_URL, max_retries=0) as client:
        report = await abuild_run_report(
            client,
            Run.model_validate(FINISHED),
            last_steps=3,
            max_screenshots=2,
            machine_name="desk-7",
        )
    _check_report(report)
    assert mocked.routes[0].call_count == 0  # the history was there: no GET of the run


def test_no_signing_and_failed_lookups_degrade(mocked: respx.MockRouter) -> None:
    mocked.get("/v1/run-attachments").respond(status_code=503)
    with _client() as client:
        report = build_run_report(client, Run.model_validate(FINISHED), sign_screenshots=False)
    assert all(s.signed_url is None for s in report.screenshots)
    assert [s.number for s in report.screenshots] == [2, 3, 4]
    assert [a.filename for a in report.attachments] == [None, None]
    assert len(report.last_steps) == 5
    assert not any(c.request.url.path.endswith("signed-url") for c in mocked.calls)


def test_caller_secrets_are_masked_in_the_report(mocked: respx.MockRouter) -> None:
    leaked = dict(FINISHED, error=["could not log in as admin with hunter7"])
    with _client() as client:
        report = build_run_report(client, Run.model_validate(leaked), secrets=["hunter7"])
    assert report.error == ["could not log in as admin with [secret]"]


def test_arguments_are_checked(mocked: respx.MockRouter) -> None:
    with _client() as client, pytest.raises(ConfigurationError, match="last_steps"):
        build_run_report(client, Run.model_validate(FINISHED), last_steps=-1)


def test_text_forms_and_usage_sum() -> None:
    report = RunReport(
        run_id=RUN,
        workflow_id="wf-1",
        status="error",
        created_at=T0,
        machine_id="m-1",
        last_steps=["clicked 'Export' (tool computer.left_click)"],
        error=["boom | bang"],
        usage=RunUsage(agentic_steps=2, runs=1),
        run_url="https://app.test/runs/run-1",
    )
    lines = report.to_log_lines()
    assert lines[0] == (
        f"Cyberdesk run {RUN}: status error, machine m-1, steps 0, "
        "usage 2 agent steps (0 cached) over 1 run"
    )
    assert "  error: boom | bang" in lines
    assert "    clicked 'Export' (tool computer.left_click)" in lines
    markdown = report.to_markdown()
    assert "| status | error |" in markdown
    assert "1. clicked 'Export' (tool computer.left_click)" in markdown
    assert "- boom | bang" in markdown
    other = report.model_copy(update={"usage": RunUsage(agentic_steps=3, cached_steps=1, runs=1)})
    assert sum_report_usage([report, other]) == RunUsage(agentic_steps=5, cached_steps=1, runs=2)
    assert RunReport.model_validate_json(report.model_dump_json()) == report
