"""The emulator served by a subprocess of the airflow environment, spoken to with ``urllib``.

The browser environment has neither this project nor httpx: like ``tests/sdk``, the emulator
runs from this checkout in ``.venvs/airflow`` on a free loopback port.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EMULATOR_PYTHON = ROOT / ".venvs" / "airflow" / "bin" / "python"
TERMINAL = {"success", "task_failed", "error", "cancelled"}


def _open(request: urllib.request.Request, timeout: float) -> Any:
    # Only the loopback http:// URLs this module builds are ever opened.
    assert request.full_url.startswith("http://127.0.0.1:"), request.full_url
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Emulator:
    """The served emulator: its URL and the API key of its default organization."""

    url: str
    api_key: str

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One authenticated JSON request; the decoded answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (see _open)
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"},
        )
        with _open(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def create_run(self, **body: Any) -> dict[str, Any]:
        """``POST /v1/runs``."""
        run: dict[str, Any] = self.call("POST", "/v1/runs", body)
        return run

    def wait(self, run_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The run once it is terminal."""
        deadline = time.monotonic() + timeout
        while True:
            run: dict[str, Any] = self.call("GET", f"/v1/runs/{run_id}")
            if run["status"] in TERMINAL:
                return run
            assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
            time.sleep(0.2)

    def page_url(self, run_id: str) -> str:
        """The run's page (what ``client.run_url`` gives for the emulator's base URL)."""
        return f"{self.url}/dashboard/runs/{run_id}"


def _healthy(url: str) -> bool:
    try:
        with _open(urllib.request.Request(f"{url}/v1/health"), timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def serve(seed: dict[str, Any], folder: Path) -> Iterator[Emulator]:
    """Serve the emulator with ``seed`` until the generator is closed."""
    seed_file = folder / "seed.json"
    seed_file.write_text(json.dumps(seed))
    port = _free_port()
    api_key = f"cd_browser_{uuid.uuid4().hex}"
    command = [
        str(EMULATOR_PYTHON), "-m", "cyberdesk_emulator", "serve", "--port", str(port),
        "--api-key", api_key, "--seed", str(seed_file),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sys.stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _healthy(url):
            assert process.poll() is None, "the emulator exited before serving"
            assert time.monotonic() < deadline, "the emulator did not start in 30 s"
            time.sleep(0.1)
        yield Emulator(url=url, api_key=api_key)
    finally:
        process.terminate()
        process.wait(timeout=15)
