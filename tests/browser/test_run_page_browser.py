"""The emulator's run page in a real browser: live steps, screenshots, downloads, no secrets.

Headless Debian Chromium, driven by Playwright, opens ``/dashboard/runs/{id}`` while the run is
running and watches the page refresh itself: the timeline grows without a reload, the status
ends at ``success``, every screenshot decodes, the exported file downloads, and neither the
sensitive value nor the input values are ever in the page. A ``task_failed`` run's page names
the agent's reason. Run with ``make test-browser``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page
from served_emulator import Emulator, serve

EXPORT_WF = "7a3e2b10-5c4d-4e8f-9a1b-2c3d4e5f6a01"
FAILING_WF = "7a3e2b10-5c4d-4e8f-9a1b-2c3d4e5f6a02"
SECRET = "pw-9f3c-never-on-the-page"
MONTH = "2031-07-input-month"
ENTITY = "ACME-input-entity"
REASON = "The ERP posting period is closed"
CSV = "account,amount\n4000,125.50\n"
STEPS = [
    {"text": "Open the ERP for {{ inputs.month }}", "tool": "computer",
     "tool_input": {"action": "left_click", "target": "ERP"}},
    {"text": "Sign in", "tool": "computer",
     "tool_input": {"action": "type", "text": "{{ secrets.password }}"}},
    {"text": "Choose {{ inputs.entity }}", "tool": "computer",
     "tool_input": {"action": "left_click", "target": "Entity"}},
    {"text": "Open the trial balance", "tool": "computer",
     "tool_input": {"action": "double_click", "coordinate": [320, 240]}},
    {"text": "Export it as CSV", "tool": "computer",
     "tool_input": {"action": "key", "text": "ctrl+e"}},
]  # fmt: skip
SEED = {
    "workflows": [
        {
            "id": EXPORT_WF,
            "name": "Trial balance export",
            "main_prompt": "Export the trial balance",
            "behavior": {
                # Six shares of 1.5 s: a step every 1.5 s, long enough to watch it grow.
                "duration": 9,
                "steps": STEPS,
                "output": {"month": "{{ inputs.month }}"},
                "files": [{"name": "trial_balance.csv", "content": CSV}],
            },
        },
        {
            "id": FAILING_WF,
            "name": "Invoice posting",
            "main_prompt": "Post the invoice",
            "behavior": {
                "duration": 2,
                "steps": STEPS[:1],
                "outcome": "task_failed",
                "error_message": REASON,
            },
        },
    ],
    "machines": [{"name": "win-erp-01"}, {"name": "win-erp-02"}],
}
# Function expressions: the page's CSP forbids the eval a bare expression string would need.
STEP_COUNT = "() => document.querySelectorAll('#steps > li.step').length"
IMAGES_DECODED = (
    "() => [...document.querySelectorAll('#steps img.shot')]"
    ".every(img => img.complete && img.naturalWidth > 0)"
)


def _steps_at_least(count: int) -> str:
    return f"() => document.querySelectorAll('#steps > li.step').length >= {count}"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The emulator with the two workflows and two machines."""
    yield from serve(SEED, tmp_path_factory.mktemp("browser"))


def _assert_no_secret(page: Page, emulator: Emulator) -> None:
    content = page.content()
    for forbidden in (SECRET, MONTH, ENTITY, emulator.api_key):
        assert forbidden not in content


def test_page_follows_a_running_run_to_success(
    page: Page, emulator: Emulator, tmp_path: Path
) -> None:
    run = emulator.create_run(
        workflow_id=EXPORT_WF,
        input_values={"month": MONTH, "entity": ENTITY},
        sensitive_input_values={"password": SECRET},
    )
    page.goto(emulator.page_url(run["id"]))
    assert page.locator('[data-status="success"]').count() == 0
    # A full reload would drop this marker: the page must update itself in place.
    page.evaluate("() => { window.stillTheSamePage = true; }")
    page.wait_for_function(_steps_at_least(1), timeout=15_000)
    seen = page.evaluate(STEP_COUNT)
    page.wait_for_function(_steps_at_least(seen + 1), timeout=15_000)
    _assert_no_secret(page, emulator)

    page.wait_for_selector('#summary [data-status="success"]', timeout=30_000)
    assert page.evaluate("() => window.stillTheSamePage") is True
    assert page.evaluate(STEP_COUNT) == len(STEPS) + 1  # and the closing message
    images = page.locator("#steps img.shot")
    assert images.count() == len(STEPS)
    page.wait_for_function(IMAGES_DECODED, timeout=15_000)
    assert "clicked 'ERP'" in page.inner_text("#steps")
    assert "[input]" in page.inner_text("#steps")

    with page.expect_download() as started:
        page.click("#attachments a.download")
    download = started.value
    assert download.suggested_filename == "trial_balance.csv"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert target.read_text() == CSV
    _assert_no_secret(page, emulator)


def test_task_failed_page_shows_the_agents_reason(page: Page, emulator: Emulator) -> None:
    run = emulator.create_run(
        workflow_id=FAILING_WF,
        input_values={"month": MONTH},
        sensitive_input_values={"password": SECRET},
    )
    page.goto(emulator.page_url(run["id"]))
    page.wait_for_selector('#summary [data-status="task_failed"]', timeout=30_000)
    assert REASON in page.inner_text("#errors")
    assert f"declared the task failed: {REASON}" in page.inner_text("#steps")
    _assert_no_secret(page, emulator)


def test_unknown_run_shows_a_not_found_page(page: Page, emulator: Emulator) -> None:
    response = page.goto(emulator.page_url("7a3e2b10-0000-4000-8000-000000000000"))
    assert response is not None
    assert response.status == 404
    assert page.inner_text("h1") == "Run not found"
