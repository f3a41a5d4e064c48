"""The offline run page (``/dashboard/runs/{id}``) over real sockets: what it shows and hides.

The real-browser checks (live refresh, images decoding) are in ``tests/browser``.
"""

from __future__ import annotations

import re
import uuid
from html import unescape

import httpx

from cyberdesk_core import CyberdeskClient

from .conftest import Api

STEPS = [
    {"text": "Open the ledger for {{ inputs.month }}", "tool": "computer",
     "tool_input": {"action": "left_click", "target": "Ledger"}},
    {"text": "Sign in", "tool": "computer",
     "tool_input": {"action": "type", "text": "{{ secrets.password }}"}},
    {"text": "Export", "tool": "computer", "tool_input": {"action": "key", "text": "Return"},
     "cached": True},
]  # fmt: skip
SECRET = "hunter2-do-not-show"
MONTH = "2031-07-secret-month"


def _page(api: Api, run_id: str) -> httpx.Response:
    # The URL the engines link to (the Airflow extra link, the Prefect artifacts).
    with CyberdeskClient(api_key=api.key, base_url=api.server.url) as client:
        url = client.run_url(run_id)
    return httpx.get(url)


def _finished_run(api: Api, behavior: dict[str, object]) -> dict[str, object]:
    workflow = api.workflow(behavior={"duration": 0, "steps": STEPS, **behavior}, name="Ledger")
    api.machine(name="win-ledger-01")
    run = api.run(
        workflow_id=workflow["id"],
        input_values={"month": MONTH},
        sensitive_input_values={"password": SECRET},
        start_session=True,
        session_alias="month-end",
    )
    return api.wait(run["id"])


def test_page_shows_run_steps_and_screenshots_without_inputs_or_secrets(api: Api) -> None:
    files = [{"name": "ledger.csv", "content": "account,amount\n"}]
    run = _finished_run(api, {"files": files, "output": {"month": "{{ inputs.month }}"}})
    page = _page(api, str(run["id"]))
    assert page.status_code == 200
    text = page.text
    assert 'data-status="success"' in text
    assert "Ledger" in text
    assert "win-ledger-01" in text
    assert str(run["machine_id"]) in text
    assert "month-end" in text
    assert str(run["session_id"]) in text
    assert text.count('class="step"') == 4  # three steps and the closing message
    assert "clicked &#x27;Ledger&#x27;" in text
    assert "typed text (tool computer.type)" in text
    assert "cached" in text
    assert "Open the ledger for [input]" in text
    for forbidden in (SECRET, MONTH, api.key):
        assert forbidden not in text
    assert "<code>month</code>" in text  # output keys only
    usage = re.search(r"Agentic steps</th><td>(\d+)</td>.*?Cached steps</th><td>(\d+)", text)
    assert usage is not None
    assert usage.groups() == ("2", "1")
    shots = re.findall(r'<img class="shot" src="([^"]+)"', text)
    assert len(shots) == 3
    for src in shots:
        image = httpx.get(api.server.url + unescape(src))
        assert image.status_code == 200
        assert image.content.startswith(b"\x89PNG")
    links = re.findall(r'class="download" href="([^"]+)"', text)
    assert len(links) == 1
    download = httpx.get(api.server.url + unescape(links[0]))
    assert download.status_code == 200
    assert download.content == b"account,amount\n"


def test_task_failed_page_shows_the_agents_reason(api: Api) -> None:
    run = _finished_run(
        api, {"outcome": "task_failed", "error_message": "Period {{ inputs.month }} is closed"}
    )
    text = _page(api, str(run["id"])).text
    assert 'data-status="task_failed"' in text
    assert '<ul class="errors"><li>Period [input] is closed</li></ul>' in text
    assert "declared the task failed: Period [input] is closed" in text
    assert MONTH not in text


def test_active_page_refreshes_from_its_json_endpoint_until_terminal(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 300, "steps": STEPS})
    api.machine()
    run = api.run(workflow_id=workflow["id"], sensitive_input_values={"password": SECRET})
    api.wait(str(run["id"]), {"running"})
    page = _page(api, str(run["id"]))
    assert 'id="live"' in page.text
    assert 'http-equiv="refresh"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'nonce-" in policy
    assert "unsafe-inline" not in policy
    live = httpx.get(f"{api.server.url}/dashboard/runs/{run['id']}/live", params={"after": 0})
    body = live.json()
    assert body["terminal"] is False
    assert body["status"] == "running"
    assert set(body["sections"]) == {"summary", "errors", "usage", "attachments"}
    assert len(body["steps"]) == body["step_count"] - body["first"]
    cancel = api.client.patch(f"/v1/runs/{run['id']}", json={"status": "cancelled"})
    assert cancel.status_code == 200, cancel.text
    api.wait(str(run["id"]))
    done = _page(api, str(run["id"])).text
    assert 'id="live"' not in done
    assert "http-equiv" not in done
    assert 'data-status="cancelled"' in done


def test_unknown_run_is_a_404_page_with_the_id_escaped(api: Api) -> None:
    missing = _page(api, str(uuid.uuid4()))
    assert missing.status_code == 404
    assert "Run not found" in missing.text
    odd = _page(api, "<img src=x onerror=alert(1)>")
    assert odd.status_code == 404
    assert "<img src=x" not in odd.text
    assert "&lt;img src=x" in odd.text
    live = httpx.get(f"{api.server.url}/dashboard/runs/{uuid.uuid4()}/live")
    assert live.status_code == 404


def test_refreshes_keep_image_urls_and_send_only_the_steps_after_the_last_shown(api: Api) -> None:
    run = _finished_run(api, {})
    first, second = (_page(api, str(run["id"])).text for _ in range(2))
    shots = re.findall(r'<img class="shot" src="([^"]+)"', first)
    assert shots == re.findall(r'<img class="shot" src="([^"]+)"', second)
    live = httpx.get(f"{api.server.url}/dashboard/runs/{run['id']}/live", params={"after": 3})
    body = live.json()
    assert body["terminal"] is True
    assert body["step_count"] == 4
    assert body["first"] == 2  # the last step shown comes again, then the new one
    assert [re.findall(r'data-step="(\d+)"', s) for s in body["steps"]] == [["3"], ["4"]]


def test_values_written_into_the_history_by_a_client_are_masked(api: Api) -> None:
    # PATCH may write any history: plaintext secrets (the run's, the machine's) and inputs in it
    # are still never shown. While the run is active, that is: once it ended, the emulator has
    # forgotten the run's sensitive values (and writes none into a history itself).
    workflow = api.workflow(behavior={"duration": 300})
    api.machine(machine_sensitive_parameters={"vpn": "vpn-token-not-shown"})
    run = api.run(
        workflow_id=workflow["id"],
        input_values={"month": MONTH},
        sensitive_input_values={"password": SECRET},
    )
    api.wait(run["id"], {"running"})
    said = f"Signing in with {SECRET} over vpn-token-not-shown for {MONTH}"
    history = [
        {"role": "assistant", "content": [{"type": "text", "text": said}]},
        {"role": "assistant", "content": [{"type": "tool_use", "tool_name": "declare_task_failed",
                                           "tool_input": {"reason": f"{MONTH} is locked"}}]},
    ]  # fmt: skip
    patch = {"run_message_history": history, "error": [f"{SECRET} rejected"]}
    assert api.client.patch(f"/v1/runs/{run['id']}", json=patch).status_code == 200
    text = _page(api, run["id"]).text
    for forbidden in (SECRET, "vpn-token-not-shown", MONTH):
        assert forbidden not in text
    assert "says: Signing in with [secret] over [secret] for [input]" in text
    assert "declared the task failed: [input] is locked" in text
    assert "<li>[secret] rejected</li>" in text
    api.client.patch(f"/v1/runs/{run['id']}", json={"status": "cancelled"})
