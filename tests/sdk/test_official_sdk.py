"""Cyberdesk's official Python SDK (``cyberdesk==2.2.69``) against the emulator, unchanged.

Runs in ``.venvs/cyberdesk-sdk`` (``scripts/setup-env.sh cyberdesk-sdk``), where this project is not
installed: the emulator is started as a subprocess of the airflow environment, from this
checkout, and only the SDK talks to it. Run with ``make test-sdk``.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from cyberdesk import CyberdeskClient, FileInput, RunCreate, RunStatus, UsageMode
from openapi_client.cyberdesk_cloud_client.models import RunRetry

ROOT = Path(__file__).resolve().parents[2]
EMULATOR_PYTHON = ROOT / ".venvs" / "airflow" / "bin" / "python"
API_KEY = f"cd_sdk_{uuid.uuid4().hex}"
EXPORT_WF = "5d1c4f1e-2a43-4e0b-8f6e-3c1b2a9d7e01"
FAILING_WF = "5d1c4f1e-2a43-4e0b-8f6e-3c1b2a9d7e02"
TERMINAL = {"success", "task_failed", "error", "cancelled"}
STEPS = [
    {"text": "Open the ERP for {{ inputs.month }}", "tool": "computer",
     "tool_input": {"action": "left_click", "coordinate": [40, 60]}},
    {"text": "Sign in", "tool": "computer",
     "tool_input": {"action": "type", "text": "{{ secrets.password }}"}},
    {"text": "Export the trial balance", "tool": "computer", "tool_input": {"action": "key"}},
]  # fmt: skip
SEED = {
    "workflows": [
        {
            "id": EXPORT_WF,
            "name": "Trial balance export",
            "main_prompt": "Export the trial balance for {month}",
            "behavior": {
                "duration": 8,
                "steps": STEPS,
                "output": {"month": "{{ inputs.month }}"},
                "files": [{"name": "tb_{{ inputs.month }}.csv", "content": "account,amount\n"}],
            },
        },
        {
            "id": FAILING_WF,
            "name": "Invoice posting",
            "main_prompt": "Post invoice {invoice}",
            "behavior": {
                "duration": 2,
                "steps": STEPS[:1],
                "outcome": "task_failed",
                "error_message": "Invoice {{ inputs.invoice }} is locked",
            },
        },
    ],
    "machines": [{"name": "win-sdk-01"}],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The emulator, served by a subprocess on a free loopback port."""
    seed = tmp_path_factory.mktemp("sdk") / "seed.json"
    seed.write_text(json.dumps(SEED))
    port = _free_port()
    command = [
        str(EMULATOR_PYTHON), "-m", "cyberdesk_emulator", "serve", "--port", str(port),
        "--api-key", API_KEY, "--seed", str(seed), "--time-scale", "10",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sys.stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "the emulator exited before serving"
            try:
                if httpx.get(f"{url}/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the emulator did not start in 30 s"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
def client(base_url: str) -> CyberdeskClient:
    """The SDK's own client, pointed at the emulator."""
    return CyberdeskClient(API_KEY, base_url=base_url)


def _data(response: Any) -> Any:
    assert response.error is None, response.error
    assert response.data is not None
    return response.data


def _history(run: Any) -> list[dict[str, Any]]:
    return [item.to_dict() for item in run.run_message_history or []]


def _poll(client: CyberdeskClient, run_id: str, until: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + 30
    while True:
        run = _data(client.runs.get_sync(run_id))
        if until(run):
            return run
        assert time.monotonic() < deadline, f"run {run_id} stuck in {run.status}"
        time.sleep(0.05)


def _images(run: Any) -> list[str]:
    return [
        block["image_url"]
        for item in _history(run)
        for block in item["content"]
        if block.get("type") == "image"
    ]


def test_runs_history_images_attachments_usage_and_trajectory(client: CyberdeskClient) -> None:
    period_start = datetime.now(timezone.utc) - timedelta(minutes=1)
    created = _data(
        client.runs.create_sync(
            RunCreate(
                workflow_id=uuid.UUID(EXPORT_WF),
                input_values={"month": "2026-10"},
                sensitive_input_values={"password": "s3cret-pass-word"},
                file_inputs=[
                    FileInput(filename="rates.csv", content=base64.b64encode(b"eur,1").decode())
                ],
            )
        )
    )
    run_id = str(created.id)
    first = _poll(client, run_id, lambda r: bool(_history(r)))
    assert first.status == RunStatus.RUNNING
    grown = _poll(client, run_id, lambda r: len(_history(r)) > len(_history(first)))
    assert _history(grown)[: len(_history(first))] == _history(first)
    done = _poll(client, run_id, lambda r: r.status.value in TERMINAL)
    assert done.status == RunStatus.SUCCESS
    history = _history(done)
    assert history[0]["content"][0]["text"] == "Open the ERP for 2026-10"
    assert "s3cret" not in json.dumps(history)
    usage = done.usage_metadata.to_dict()
    assert usage["total_agentic_steps"] == 3
    assert usage["billing_outcome"] == "billed"

    listed = _data(client.runs.list_sync(workflow_id=EXPORT_WF))
    assert run_id in [str(item.id) for item in listed.items]

    image = _images(done)[0]
    signed = _data(client.runs.get_image_signed_url_sync(run_id, image_url=image, expires_in=60))
    assert signed.supabase_url == image
    assert signed.expires_in == 60
    png = httpx.get(signed.signed_url)  # no API key
    assert png.status_code == 200
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">I4s", png.content[8:16]) == (13, b"IHDR")

    attachments = _data(client.run_attachments.list_sync(run_id=run_id)).items
    names = {att.filename: att for att in attachments}
    assert set(names) == {"rates.csv", "tb_2026-10.csv"}
    export = names["tb_2026-10.csv"]
    assert _data(client.run_attachments.download_sync(str(export.id))) == b"account,amount\n"
    link = _data(client.run_attachments.get_download_url_sync(str(export.id), expires_in=60))
    assert httpx.get(link.url).content == b"account,amount\n"

    trajectory = _data(client.runs.get_trajectory_sync(run_id))
    assert str(trajectory.run_id) == run_id
    assert [step.to_dict()["tool_name"] for step in trajectory.trajectory_data] == ["computer"] * 3

    period_end = datetime.now(timezone.utc) + timedelta(minutes=1)
    billed = _data(client.usage.aggregate_sync(period_start, period_end, UsageMode.BILLED))
    assert billed.total_agentic_steps >= 3
    assert billed.runs_counted >= 1
    simulated = _data(client.usage.aggregate_sync(period_start, period_end))
    assert simulated.mode == UsageMode.SIMULATED

    retried = _data(client.runs.retry_sync(run_id, RunRetry()))
    assert str(retried.id) == run_id
    assert retried.status == RunStatus.SCHEDULING
    assert not retried.run_message_history
    again = _poll(client, run_id, lambda r: r.status.value in TERMINAL)
    assert again.status == RunStatus.SUCCESS
    assert len(_images(again)) == 3


def test_task_failed_run_names_the_agents_reason(client: CyberdeskClient) -> None:
    created = _data(
        client.runs.create_sync(
            RunCreate(workflow_id=uuid.UUID(FAILING_WF), input_values={"invoice": "INV-42"})
        )
    )
    done = _poll(client, str(created.id), lambda r: r.status.value in TERMINAL)
    assert done.status == RunStatus.TASK_FAILED
    assert done.error == ["Invoice INV-42 is locked"]
    last = _history(done)[-1]["content"]
    declared = [block for block in last if block.get("type") == "tool_use"]
    assert declared[0]["tool_name"] == "declare_task_failed"
    assert declared[0]["tool_input"] == {"reason": "Invoice INV-42 is locked"}
    assert done.usage_metadata.to_dict()["total_agentic_steps_billed"] == 2
