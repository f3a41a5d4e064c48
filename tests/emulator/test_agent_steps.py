"""The simulated agent at work: growing message history, screenshots, usage, cost, trajectory."""

from __future__ import annotations

import json
import struct
import time
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from .conftest import Api, wait_until

STEPS = [
    {"text": "Open the ERP for {{ inputs.month }}", "tool": "computer",
     "tool_input": {"action": "left_click", "coordinate": [10, 20]}},
    {"text": "Log in as {{ secrets.password }}", "tool": "computer",
     "tool_input": {"action": "type", "text": "{{ secrets.password }}"}},
    {"text": "Replay the export", "tool": "computer", "tool_input": {"action": "key"},
     "cached": True},
    {"text": "Read the totals", "tool": "read_screen", "screenshot": False},
]  # fmt: skip


def _images(run: dict[str, Any]) -> list[str]:
    return [
        block["image_url"]
        for item in run["run_message_history"] or []
        for block in item["content"]
        if block["type"] == "image"
    ]


def _finished(api: Api, behavior: dict[str, Any], **body: Any) -> dict[str, Any]:
    workflow = api.workflow(behavior=behavior)
    api.machine()
    return api.wait(api.run(workflow_id=workflow["id"], **body)["id"])


def _check_png(data: bytes) -> None:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    assert width > 0
    assert height > 0
    assert (depth, color) == (8, 2)
    assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(data[12:29])


def test_history_grows_while_the_run_is_running(api: Api) -> None:
    # 40 simulated seconds at time_scale 100: one step every 80 ms of real time.
    workflow = api.workflow(behavior={"duration": 40, "steps": STEPS})
    api.machine()
    run = api.run(workflow_id=workflow["id"], input_values={"month": "2026-10"})
    first = wait_until(lambda: (r := api.get_run(run["id"]))["run_message_history"] and r)
    assert first["status"] == "running"
    second = wait_until(
        lambda: (
            len((r := api.get_run(run["id"]))["run_message_history"] or [])
            > len(first["run_message_history"])
            and r
        )
    )
    assert (
        second["run_message_history"][: len(first["run_message_history"])]
        == (first["run_message_history"])
    )
    done = api.wait(run["id"])
    history = done["run_message_history"]
    assert done["status"] == "success"
    assert history[0]["role"] == "assistant"
    assert history[0]["timestamp"]
    assert history[0]["content"][0] == {"type": "text", "text": "Open the ERP for 2026-10"}
    tool_use = history[0]["content"][1]
    assert tool_use["type"] == "tool_use"
    assert tool_use["tool_name"] == "computer"
    assert tool_use["tool_input"] == {"action": "left_click", "coordinate": [10, 20]}
    answer = history[1]
    assert answer["role"] == "user"
    assert answer["content"][0]["type"] == "tool_result"
    assert answer["content"][0]["tool_use_id"] == tool_use["tool_use_id"]
    assert _images(done) == [
        f"supabase://run-images/{done['organization_id']}/{done['id']}/{n}.png" for n in (1, 2, 3)
    ]
    stamps = [item["timestamp"] for item in history]
    assert stamps == sorted(stamps)


def test_default_steps_come_from_the_prompt(api: Api) -> None:
    workflow = api.workflow(main_prompt="Export the trial balance for {month}")
    api.machine()
    done = api.wait(api.run(workflow_id=workflow["id"])["id"], timeout=20)
    texts = [
        block["text"]
        for item in done["run_message_history"]
        for block in item["content"]
        if block["type"] == "text"
    ]
    assert texts[0] == "Starting: Export the trial balance for {month}"
    assert texts[-1] == "Simulated execution finished: success"
    assert len(_images(done)) == 3


def test_screenshot_signed_url_downloads_a_png_without_the_key(api: Api) -> None:
    done = _finished(api, {"duration": 1, "steps": STEPS})
    first, second = _images(done)[:2]
    response = api.client.get(
        f"/v1/runs/{done['id']}/image/signed-url", params={"image_url": first, "expires_in": 60}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"supabase_url", "signed_url", "expires_in"}
    assert body["supabase_url"] == first
    assert body["expires_in"] == 60
    assert api.key not in body["signed_url"]
    image = httpx.get(body["signed_url"])  # no Authorization header
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    _check_png(image.content)
    default = api.client.get(
        f"/v1/runs/{done['id']}/image/signed-url", params={"image_url": second}
    ).json()
    assert default["expires_in"] == 3600
    other = httpx.get(default["signed_url"]).content
    _check_png(other)
    assert other != image.content  # each step has its own picture


def test_screenshot_urls_refuse_forgery_expiry_and_foreign_images(api: Api, other_api: Api) -> None:
    done = _finished(api, {"duration": 1, "steps": STEPS})
    image = _images(done)[0]
    signed = api.client.get(
        f"/v1/runs/{done['id']}/image/signed-url", params={"image_url": image}
    ).json()["signed_url"]
    parts = urlsplit(signed)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    forged = httpx.get(base + "?" + urlencode({"expires": 2**40, "signature": "0" * 64}))
    assert forged.status_code == 403
    path = image.removeprefix("supabase://run-images/")
    past = int(time.time()) - 1
    expired_sig = api.server.emulator.signer.sign(path, past)
    expired = httpx.get(base + "?" + urlencode({"expires": past, "signature": expired_sig}))
    assert expired.status_code == 403
    assert "expired" in expired.json()["detail"]
    url = f"/v1/runs/{done['id']}/image/signed-url"
    for expires_in in (9, 3601):
        params = {"image_url": image, "expires_in": expires_in}
        assert api.client.get(url, params=params).status_code == 422
    assert api.client.get(url, params={"image_url": "https://x/1.png"}).status_code == 422
    unknown = image.replace("/1.png", "/99.png")
    assert api.client.get(url, params={"image_url": unknown}).status_code == 404
    assert other_api.client.get(url, params={"image_url": image}).status_code == 404


def test_task_failed_history_ends_with_the_declared_reason(api: Api) -> None:
    behavior = {
        "duration": 1,
        "outcome": "task_failed",
        "steps": STEPS[:2],
        "error_message": "Invoice {{ inputs.invoice }} is locked by another user",
    }
    done = _finished(api, behavior, input_values={"invoice": "INV-7"})
    reason = "Invoice INV-7 is locked by another user"
    assert done["status"] == "task_failed"
    assert done["error"] == [reason]
    last = done["run_message_history"][-1]
    assert last["role"] == "assistant"
    declared = [block for block in last["content"] if block["type"] == "tool_use"]
    assert declared == [
        {
            "type": "tool_use",
            "tool_use_id": declared[0]["tool_use_id"],
            "tool_name": "declare_task_failed",
            "tool_input": {"reason": reason},
        }
    ]
    assert api.client.get(f"/v1/runs/{done['id']}/trajectory").status_code == 404


def test_history_never_carries_sensitive_values(api: Api) -> None:
    done = _finished(
        api,
        {"duration": 1, "steps": STEPS, "outcome": "task_failed",
         "error_message": "Login {{ secrets.password }} refused"},
        sensitive_input_values={"password": "hunter2-very-secret"},
    )  # fmt: skip
    text = json.dumps(done)
    assert "hunter2" not in text
    assert "Log in as ********" in text
    assert done["sensitive_input_aliases"]
    assert "password" in done["sensitive_input_aliases"]


def test_usage_metadata_and_aggregate_follow_billing(api: Api) -> None:
    start = datetime.now(timezone.utc) - timedelta(seconds=5)
    success = _finished(api, {"duration": 1, "steps": STEPS})
    failed = _finished(api, {"duration": 1, "steps": STEPS[:2], "outcome": "task_failed"})
    infra = _finished(api, {"duration": 1, "steps": STEPS[:1], "outcome": "error"})
    assert success["usage_metadata"] == {
        "total_agentic_steps": 3,
        "total_cached_steps": 1,
        "total_agentic_steps_billed": 3,
        "total_cached_steps_billed": 1,
        "billing_outcome": "billed",
    }
    # Declaring the task failed is an agent step too.
    assert failed["usage_metadata"]["total_agentic_steps_billed"] == 3
    assert infra["usage_metadata"]["billing_outcome"] == "infra_failure"
    assert infra["usage_metadata"]["total_agentic_steps_billed"] == 0
    end = datetime.now(timezone.utc) + timedelta(seconds=5)
    period = {"from_date": start.isoformat(), "to_date": end.isoformat()}
    simulated = api.client.get("/v1/usage/aggregate", params=period).json()
    assert simulated["mode"] == "simulated"
    assert (simulated["total_agentic_steps"], simulated["total_cached_steps"]) == (6, 1)
    assert simulated["runs_counted"] == 2
    billed = api.client.get("/v1/usage/aggregate", params={**period, "mode": "billed"}).json()
    assert (billed["total_agentic_steps"], billed["runs_counted"]) == (6, 3)
    before = {"from_date": "2020-01-01T00:00:00", "to_date": "2020-02-01T00:00:00"}
    assert api.client.get("/v1/usage/aggregate", params=before).json()["runs_counted"] == 0
    assert api.client.get("/v1/usage/aggregate").status_code == 422
    retried = api.client.post(f"/v1/runs/{infra['id']}/retry", json={})
    assert retried.json()["usage_metadata"] is None


def test_llm_costs_and_trajectory(api: Api, other_api: Api) -> None:
    done = _finished(api, {"duration": 1, "steps": STEPS}, input_values={"month": "2026-11"})
    costs = api.client.get(f"/v1/runs/{done['id']}/llm-costs").json()
    assert costs["run_id"] == done["id"]
    assert costs["has_unpriced"] is False
    (row,) = costs["rows"]
    assert row["call_count"] == 3
    assert row["cost_usd"] > 0
    assert costs["total_cost_usd"] == row["cost_usd"]
    trajectory = api.client.get(f"/v1/runs/{done['id']}/trajectory").json()
    assert trajectory["run_id"] == done["id"]
    assert trajectory["workflow_id"] == done["workflow_id"]
    assert [s["tool_name"] for s in trajectory["trajectory_data"]] == [
        "computer",
        "computer",
        "computer",
        "read_screen",
    ]
    assert trajectory["original_input_values"] == {"month": "2026-11"}
    assert other_api.client.get(f"/v1/runs/{done['id']}/trajectory").status_code == 404
    assert other_api.client.get(f"/v1/runs/{done['id']}/llm-costs").status_code == 404
