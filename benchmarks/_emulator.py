"""Start `cyberdesk-emulator serve` in its own process so its CPU never counts as the client's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from cyberdesk_emulator import EmulatorAdmin

API_KEY = "cd_bench_key"
ADMIN_TOKEN = "bench-admin"  # noqa: S105 - local emulator admin token
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def emulator_command() -> list[str]:
    """The console script installed next to this interpreter (`python -m` as a fallback)."""
    script = Path(sys.executable).with_name("cyberdesk-emulator")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "cyberdesk_emulator"]


class EmulatorProcess:
    """A `cyberdesk-emulator serve` subprocess with a seed document; a context manager."""

    def __init__(self, seed: dict[str, Any], *, time_scale: float = 1.0) -> None:
        self.seed = seed
        self.time_scale = time_scale
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = API_KEY
        self._dir = tempfile.TemporaryDirectory(prefix="cyberdesk-bench-")
        self._proc: subprocess.Popen[bytes] | None = None
        self._admin: EmulatorAdmin | None = None

    @property
    def admin(self) -> EmulatorAdmin:
        """Admin API client of the running server."""
        assert self._admin is not None, "emulator not started"
        return self._admin

    @property
    def pid(self) -> int:
        """Process id of the server."""
        assert self._proc is not None, "emulator not started"
        return self._proc.pid

    def start(self) -> EmulatorProcess:
        """Launch the server and wait until /v1/health answers."""
        seed_path = Path(self._dir.name) / "seed.json"
        seed_path.write_text(json.dumps(self.seed), encoding="utf-8")
        log = open(Path(self._dir.name) / "emulator.log", "wb")  # noqa: SIM115 - child owns it
        cmd = [
            *emulator_command(),
            "serve",
            "--port",
            str(self.port),
            "--seed",
            str(seed_path),
            "--api-key",
            API_KEY,
            "--admin-token",
            ADMIN_TOKEN,
            "--time-scale",
            str(self.time_scale),
        ]
        self._proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=dict(os.environ))
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"emulator exited early; see {self._dir.name}/emulator.log")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("emulator did not become healthy in time")
            time.sleep(0.1)
        self._admin = EmulatorAdmin(self.url, ADMIN_TOKEN, timeout=60.0)
        return self

    def stop(self) -> None:
        """Terminate the server and remove its temporary files."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        self._dir.cleanup()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def cyberdesk_requests(stats: dict[str, Any]) -> int:
    """Requests to the Cyberdesk API routes (admin and health excluded)."""
    return sum(
        n
        for route, n in stats.get("requests_by_route", {}).items()
        if " /v1/" in route and "/v1/health" not in route
    )


def p99_latency_ms(stats: dict[str, Any]) -> float:
    """Worst per-route p99 latency (ms) of the Cyberdesk API routes in the admin stats."""
    values = [
        float(v["p99_ms"])
        for route, v in stats.get("latency_ms", {}).items()
        if " /v1/" in route and "/v1/health" not in route
    ]
    return max(values, default=0.0)


def seed_document(workflows: dict[str, dict[str, Any]], machines: int) -> dict[str, Any]:
    """Seed with named workflows (name -> behaviour) and `machines` idle machines."""
    doc: dict[str, Any] = {
        "workflows": [{"name": name, "behavior": beh} for name, beh in workflows.items()],
        "machines": [{"name": f"m{i:05d}"} for i in range(machines)],
    }
    return doc


def workflow_ids(emu: EmulatorProcess) -> dict[str, str]:
    """Workflow name -> id, read through the public API."""
    with httpx.Client(
        base_url=emu.url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=30
    ) as http:
        body = http.get("/v1/workflows", params={"limit": 1000}).json()
    return {item["name"]: item["id"] for item in body["items"]}
