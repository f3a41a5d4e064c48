"""Fixtures for the emulator integration tests (real loopback sockets, plain httpx).

One fast emulator serves the whole folder; every test gets its own organization (its own API
key), so tests cannot see each other's machines or runs. Tests that change global knobs (faults)
start their own server with ``cyberdesk_emulator_factory``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cyberdesk_emulator import EmulatorServer

TIME_SCALE = 100.0
TERMINAL = {"success", "task_failed", "error", "cancelled"}


@dataclass
class Api:
    """An organization's view of the emulator: an httpx client with its Bearer key."""

    server: EmulatorServer
    key: str
    client: httpx.Client

    def workflow(self, behavior: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Create a workflow (and set its behaviour through the admin API)."""
        body = {"main_prompt": "Emulated task", "name": f"wf-{uuid.uuid4().hex[:6]}", **fields}
        response = self.client.post("/v1/workflows", json=body)
        assert response.status_code == 201, response.text
        workflow: dict[str, Any] = response.json()
        if behavior is not None:
            self.server.admin.set_workflow_behavior(workflow["id"], behavior)
        return workflow

    def machine(self, name: str = "desktop", **fields: Any) -> dict[str, Any]:
        """Register a simulated machine."""
        body = {"fingerprint": uuid.uuid4().hex, "unkey_key_id": "key_1", "name": name, **fields}
        response = self.client.post("/v1/machines", json=body)
        assert response.status_code == 201, response.text
        machine: dict[str, Any] = response.json()
        return machine

    def pool(
        self, name: str, machine_ids: list[str] | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Create a pool, optionally with members."""
        response = self.client.post("/v1/pools", json={"name": name, **fields})
        assert response.status_code == 201, response.text
        pool: dict[str, Any] = response.json()
        if machine_ids:
            added = self.client.post(
                f"/v1/pools/{pool['id']}/machines", json={"machine_ids": machine_ids}
            )
            assert added.status_code == 200, added.text
        return pool

    def run(self, **body: Any) -> dict[str, Any]:
        """Create a run."""
        response = self.client.post("/v1/runs", json=body)
        assert response.status_code == 201, response.text
        run: dict[str, Any] = response.json()
        return run

    def get_run(self, run_id: str) -> dict[str, Any]:
        """Fetch a run."""
        response = self.client.get(f"/v1/runs/{run_id}")
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        return run

    def wait(
        self, run_id: str, statuses: set[str] | None = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Poll until the run reaches one of ``statuses`` (default: any terminal status)."""
        wanted = statuses or TERMINAL
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if run["status"] in wanted:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} stuck in {run['status']}, wanted {wanted}")
            time.sleep(0.01)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll a predicate until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def new_org(server: EmulatorServer) -> Api:
    """Seed a fresh organization and return its client."""
    key = f"cd_test_{uuid.uuid4().hex}"
    server.admin.seed(
        {"organizations": [{"id": f"org_{uuid.uuid4().hex[:12]}", "api_keys": [key]}]}
    )
    client = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10.0
    )
    return Api(server=server, key=key, client=client)


@pytest.fixture(scope="session")
def server() -> Iterator[EmulatorServer]:
    """The folder-wide emulator."""
    with EmulatorServer(time_scale=TIME_SCALE, rng_seed=7) as emulator:
        yield emulator


@pytest.fixture
def api(server: EmulatorServer) -> Iterator[Api]:
    """A fresh organization on the shared emulator."""
    org = new_org(server)
    yield org
    org.client.close()


@pytest.fixture
def other_api(server: EmulatorServer) -> Iterator[Api]:
    """A second, unrelated organization."""
    org = new_org(server)
    yield org
    org.client.close()
