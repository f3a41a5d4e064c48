"""Command line, seed files, request log, EmulatorServer lifecycle and the pytest fixtures."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from cyberdesk_emulator import EmulatorServer
from cyberdesk_emulator.blobs import INLINE_LIMIT
from cyberdesk_emulator.cli import build_parser

SEED_YAML = """
settings:
  time_scale: 100
workflows:
  - id: 11111111-1111-4111-8111-111111111111
    name: Monthly trial balance
    behavior:
      duration: 1
      output: {month: "{{ inputs.month }}", login: "{{ secrets.erp_password | mask }}"}
pools:
  - name: finance
    pool_parameters: {site: berlin}
machines:
  - id: 22222222-2222-4222-8222-222222222222
    name: win-01
    pools: [finance]
organizations:
  - id: org_other
    name: Other Corp
    api_keys: [cd_other_key]
    workflows: [{name: theirs}]
"""
# Above the inline limit, so the emulator keeps it in a file of its temporary directory.
BIG_FILE = {"filename": "a.bin", "content": base64.b64encode(b"x" * (INLINE_LIMIT + 1)).decode()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, "emulator process exited early"
        try:
            if httpx.get(url + "/v1/health", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("emulator did not become healthy")


def test_cli_serve_with_seed_and_log_file(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED_YAML)
    log = tmp_path / "requests.log"
    port = _free_port()
    cmd = [
        sys.executable, "-m", "cyberdesk_emulator", "serve", "--port", str(port),
        "--seed", str(seed), "--api-key", "cd_cli_key", "--admin-token", "cli-admin",
        "--log-file", str(log),
    ]  # fmt: skip
    # TMPDIR: where the attachment files go (and must be gone after Ctrl-C).
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        headers = {"Authorization": "Bearer cd_cli_key"}
        run = httpx.post(
            f"{url}/v1/runs",
            headers=headers,
            json={
                "workflow_id": "11111111-1111-4111-8111-111111111111",
                "input_values": {"month": "2026-10"},
                "sensitive_input_values": {"erp_password": "TopSecret-42"},
                "file_inputs": [BIG_FILE],
            },
        ).json()
        assert len(list(tmp_path.glob("cyberdesk-emulator-*/*"))) == 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = httpx.get(f"{url}/v1/runs/{run['id']}", headers=headers).json()
            if got["status"] == "success":
                break
            time.sleep(0.02)
        assert got["status"] == "success"
        assert got["output_data"] == {"month": "2026-10", "login": "********"}
        assert got["machine_id"] == "22222222-2222-4222-8222-222222222222"
        other = httpx.get(f"{url}/v1/workflows", headers={"Authorization": "Bearer cd_other_key"})
        assert [w["name"] for w in other.json()["items"]] == ["theirs"]
        admin = httpx.get(f"{url}/_emulator/stats", headers={"X-Emulator-Admin-Token": "cli-admin"})
        assert admin.json()["runs_created"] == 1
        httpx.get(f"{url}/v1/runs", params={"search": "TopSecret-42"}, headers=headers)
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr.decode()
    assert not list(tmp_path.glob("cyberdesk-emulator-*"))
    text = log.read_text()
    assert "POST /v1/runs 201" in text
    assert "GET /v1/runs/{run_id} 200" in text
    assert "GET /_emulator/stats 200" in text
    for secret in ("TopSecret-42", "cd_cli_key", "cli-admin", "search="):
        assert secret not in text
        assert secret not in stderr.decode()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_cli_removes_attachment_files_when_terminated(
    tmp_path: Path, signum: signal.Signals
) -> None:
    port = _free_port()
    cmd = [sys.executable, "-m", "cyberdesk_emulator", "serve", "--port", str(port)]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        headers = {"Authorization": "Bearer cd_emulator_key"}
        workflow = httpx.post(f"{url}/v1/workflows", headers=headers, json={"main_prompt": "p"})
        run = httpx.post(
            f"{url}/v1/runs",
            headers=headers,
            json={"workflow_id": workflow.json()["id"], "file_inputs": [BIG_FILE]},
        )
        assert run.status_code == 201, run.text
        [store] = tmp_path.glob("cyberdesk-emulator-*")
        assert len(list(store.iterdir())) == 1
    finally:
        proc.send_signal(signum)
        try:
            _, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave a hung server behind
            proc.communicate()
            raise
    # A hang-up is handled as a SIGTERM.
    assert proc.returncode == 128 + signal.SIGTERM, stderr.decode()
    assert not list(tmp_path.glob("cyberdesk-emulator-*"))


def test_cli_parser_lists_documented_options(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.api_key, args.admin_token) == (
        "127.0.0.1",
        8765,
        "cd_emulator_key",
        "emulator-admin",
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    help_text = capsys.readouterr().out
    for option in ("--host", "--port", "--seed", "--api-key", "--time-scale", "--admin-token"):
        assert option in help_text
    assert "--log-file" in help_text
    assert (Path(sys.executable).parent / "cyberdesk-emulator").exists()


def test_emulator_server_stops_cleanly_without_leaking_threads(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"machines": [{"name": "m"}], "workflows": [{"name": "w"}]}))
    server = EmulatorServer(
        seed=seed, time_scale=1000, api_key="cd_other", log_path=tmp_path / "log"
    )
    with server:
        assert server.url.startswith("http://127.0.0.1:")
        response = httpx.get(
            server.url + "/v1/machines", headers={"Authorization": "Bearer cd_other"}
        )
        assert response.json()["total"] == 1
        assert repr(server.admin).startswith("EmulatorAdmin")
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/v1/health", timeout=1)
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not (set(threading.enumerate()) - before)
    with pytest.raises(RuntimeError):
        _ = server.admin


def test_plugin_fixture_serves_a_fast_emulator(cyberdesk_emulator: EmulatorServer) -> None:
    headers = {"Authorization": f"Bearer {cyberdesk_emulator.api_key}"}
    client = httpx.Client(base_url=cyberdesk_emulator.url, headers=headers)
    workflow = client.post("/v1/workflows", json={"main_prompt": "fixture"}).json()
    client.post("/v1/machines", json={"fingerprint": "fp", "unkey_key_id": "k"})
    run = client.post("/v1/runs", json={"workflow_id": workflow["id"]}).json()
    deadline = time.monotonic() + 5
    while client.get(f"/v1/runs/{run['id']}").json()["status"] != "success":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert cyberdesk_emulator.admin.stats()["runs_created"] >= 1
    client.close()
