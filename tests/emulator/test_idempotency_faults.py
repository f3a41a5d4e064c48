"""Idempotency-Key replay / in-progress, fault injection of every kind, admin API, stats."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from cyberdesk_emulator import EmulatorServer, FaultConfig, FaultRule

from .conftest import Api, new_org

Factory = Callable[..., EmulatorServer]


@pytest.fixture(scope="module")
def module_server() -> Iterator[EmulatorServer]:
    """A server whose global knobs (faults, stats) these tests may change."""
    with EmulatorServer(time_scale=100.0) as server:
        yield server


@pytest.fixture
def fault_server(module_server: EmulatorServer) -> Iterator[EmulatorServer]:
    """The module server with no faults and zeroed counters, cleaned again afterwards."""
    module_server.admin.clear_faults()
    module_server.admin.reset_stats()
    yield module_server
    module_server.admin.clear_faults()


def test_idempotent_replay_returns_the_original_response(api: Api) -> None:
    workflow = api.workflow()
    key = str(uuid.uuid4())
    headers = {"Idempotency-Key": key}
    first = api.client.post("/v1/runs", json={"workflow_id": workflow["id"]}, headers=headers)
    second = api.client.post("/v1/runs", json={"workflow_id": workflow["id"]}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert api.client.get("/v1/runs").json()["total"] == 1
    stats = api.server.admin.stats()
    assert stats["creates_by_idempotency_key"][key] == 1
    assert stats["runs_by_idempotency_key"][key] == 1
    bulk_key = str(uuid.uuid4())
    for _ in range(3):
        bulk = api.client.post(
            "/v1/runs/bulk",
            json={"workflow_id": workflow["id"], "count": 5},
            headers={"Idempotency-Key": bulk_key},
        )
        assert bulk.status_code == 201
    assert api.server.admin.stats()["runs_by_idempotency_key"][bulk_key] == 5


def test_idempotency_keys_are_scoped_per_organization(api: Api, other_api: Api) -> None:
    key = str(uuid.uuid4())
    mine, theirs = api.workflow(), other_api.workflow()
    a = api.client.post(
        "/v1/runs", json={"workflow_id": mine["id"]}, headers={"Idempotency-Key": key}
    )
    b = other_api.client.post(
        "/v1/runs", json={"workflow_id": theirs["id"]}, headers={"Idempotency-Key": key}
    )
    assert a.json()["id"] != b.json()["id"]
    assert b.json()["workflow_id"] == theirs["id"]


def test_in_flight_key_gets_409_in_progress(fault_server: EmulatorServer) -> None:
    server = fault_server
    server.admin.set_faults(
        {"rules": [{"route": "POST /v1/workflows", "kind": "latency", "latency": 1.5}]}
    )
    api = new_org(server)
    key = str(uuid.uuid4())
    results: list[httpx.Response] = []

    def create() -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {api.key}"}) as c:
            results.append(
                c.post("/v1/workflows", json={"main_prompt": "x"}, headers={"Idempotency-Key": key})
            )

    workers = [threading.Thread(target=create) for _ in range(2)]
    for worker in workers:
        worker.start()
        time.sleep(0.2)
    for worker in workers:
        worker.join()
    # Whichever request arrived first was processed; the other one found it in flight.
    by_status = {r.status_code: r for r in results}
    assert set(by_status) == {201, 409}
    assert by_status[409].headers["Idempotency-Status"] == "in_progress"
    server.admin.clear_faults()
    replay = api.client.post(
        "/v1/workflows", json={"main_prompt": "x"}, headers={"Idempotency-Key": key}
    )
    assert replay.json()["id"] == by_status[201].json()["id"]
    assert api.client.get("/v1/workflows").json()["total"] == 1


@pytest.mark.parametrize("kind", ["408", "500", "502", "503", "504"])
def test_status_faults(fault_server: EmulatorServer, kind: str) -> None:
    server = fault_server
    api = new_org(server)
    server.admin.set_faults(
        {"seed": 1, "rules": [{"route": "GET /v1/runs", "kind": kind, "times": 2}]}
    )
    codes = [api.client.get("/v1/runs").status_code for _ in range(3)]
    assert codes == [int(kind), int(kind), 200]
    assert api.client.get("/v1/machines").status_code == 200
    assert server.admin.stats()["faults_injected"] == {kind: 2}


def test_rate_limit_fault_has_retry_after(fault_server: EmulatorServer) -> None:
    server = fault_server
    api = new_org(server)
    server.admin.set_faults(
        FaultConfig(rules=[FaultRule(route="GET /v1/*", kind="429", retry_after=2)])
    )
    response = api.client.get("/v1/workflows")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert isinstance(response.json()["detail"], str)
    assert httpx.get(server.url + "/v1/health").status_code == 200
    server.admin.clear_faults()
    assert api.client.get("/v1/workflows").status_code == 200


def test_injected_409_in_progress(fault_server: EmulatorServer) -> None:
    server = fault_server
    api = new_org(server)
    workflow = api.workflow()
    server.admin.set_faults({"rules": [{"route": "POST /v1/runs", "kind": "409", "times": 1}]})
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.client.post("/v1/runs", json={"workflow_id": workflow["id"]}, headers=key)
    assert first.status_code == 409
    assert first.headers["Idempotency-Status"] == "in_progress"
    second = api.client.post("/v1/runs", json={"workflow_id": workflow["id"]}, headers=key)
    assert second.status_code == 201
    assert api.client.get("/v1/runs").json()["total"] == 1


def test_dropped_connection_before_processing(fault_server: EmulatorServer) -> None:
    server = fault_server
    api = new_org(server)
    workflow = api.workflow()
    server.admin.set_faults({"rules": [{"route": "POST /v1/runs", "kind": "drop", "times": 1}]})
    # The server closes the socket unanswered: the client sees the close (RemoteProtocolError),
    # or a reset when the kernel still held unread request bytes (ReadError). Either way no run.
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.client.post("/v1/runs", json={"workflow_id": workflow["id"]})
    assert api.client.get("/v1/runs").json()["total"] == 0
    assert api.client.post("/v1/runs", json={"workflow_id": workflow["id"]}).status_code == 201


def test_faults_after_processing_never_double_create(fault_server: EmulatorServer) -> None:
    server = fault_server
    api = new_org(server)
    workflow = api.workflow()
    server.admin.set_faults(
        {
            "rules": [
                {"route": "POST /v1/runs", "kind": "drop", "phase": "after", "times": 1},
                {"route": "POST /v1/runs", "kind": "503", "phase": "after", "times": 1},
            ]
        }
    )
    key = str(uuid.uuid4())
    body = {"workflow_id": workflow["id"]}
    with pytest.raises(httpx.TransportError):
        api.client.post("/v1/runs", json=body, headers={"Idempotency-Key": key})
    lost = api.client.post("/v1/runs", json=body, headers={"Idempotency-Key": key})
    assert lost.status_code == 503
    final = api.client.post("/v1/runs", json=body, headers={"Idempotency-Key": key})
    assert final.status_code == 201
    runs = api.client.get("/v1/runs").json()
    assert runs["total"] == 1
    assert runs["items"][0]["id"] == final.json()["id"]
    assert server.admin.stats()["creates_by_idempotency_key"] == {key: 1}


def test_latency_fault_adds_delay(cyberdesk_emulator_factory: Factory) -> None:
    server = cyberdesk_emulator_factory(
        faults={"rules": [{"route": "GET /v1/pools", "kind": "latency", "latency": 0.3}]}
    )
    api = new_org(server)
    started = time.perf_counter()
    assert api.client.get("/v1/pools").status_code == 200
    assert time.perf_counter() - started >= 0.3
    stats = server.admin.stats()
    assert stats["latency_ms"]["GET /v1/pools"]["p50_ms"] >= 300


def test_fault_rates_are_deterministic_per_seed(fault_server: EmulatorServer) -> None:
    api = new_org(fault_server)
    outcomes: list[list[int]] = []
    for _ in range(2):
        # Setting the rules reseeds the fault RNG: the same seed gives the same sequence.
        fault_server.admin.set_faults(
            {"seed": 42, "rules": [{"route": "*", "kind": "500", "rate": 0.5}]}
        )
        outcomes.append([api.client.get("/v1/workflows").status_code for _ in range(20)])
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {200, 500}


def test_admin_api_requires_token(server: EmulatorServer) -> None:
    assert httpx.get(server.url + "/_emulator/stats").status_code == 401
    bad = httpx.get(server.url + "/_emulator/stats", headers={"X-Emulator-Admin-Token": "nope"})
    assert bad.status_code == 401
    with_api_key = httpx.get(
        server.url + "/_emulator/stats", headers={"Authorization": f"Bearer {server.api_key}"}
    )
    assert with_api_key.status_code == 401


def test_stats_count_routes_by_template(fault_server: EmulatorServer) -> None:
    server = fault_server
    api = new_org(server)
    workflow = api.workflow()
    run = api.run(workflow_id=workflow["id"])
    server.admin.reset_stats()
    for _ in range(3):
        api.get_run(run["id"])
    stats: dict[str, Any] = server.admin.stats()
    assert stats["requests_by_route"] == {"GET /v1/runs/{run_id}": 3}
    assert stats["status_by_route"]["GET /v1/runs/{run_id}"] == {"200": 3}
    assert stats["latency_ms"]["GET /v1/runs/{run_id}"]["count"] == 3


def test_max_finished_runs_caps_history(cyberdesk_emulator_factory: Factory) -> None:
    server = cyberdesk_emulator_factory(max_finished_runs=5)
    api = new_org(server)
    workflow = api.workflow(behavior={"duration": 0})
    api.machine()
    body = api.client.post(
        "/v1/runs/bulk", json={"workflow_id": workflow["id"], "count": 12}
    ).json()
    ids = [r["id"] for r in body["created_runs"]]
    api.wait(ids[-1])
    deadline = time.monotonic() + 10
    while api.client.get("/v1/runs").json()["total"] != 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    remaining = api.client.get("/v1/runs").json()
    assert remaining["total"] == 5
    assert api.client.get(f"/v1/runs/{ids[0]}").status_code == 404


def test_admin_reset_and_seed(cyberdesk_emulator_factory: Factory) -> None:
    server = cyberdesk_emulator_factory()
    summary = server.admin.seed(
        {
            "workflows": [{"name": "tb", "behavior": {"duration": 0}}],
            "pools": [{"name": "finance"}],
            "machines": [{"name": "win-1", "pools": ["finance"]}],
        }
    )
    ids = summary["org_emulator"]
    headers = {"Authorization": f"Bearer {server.api_key}"}
    pool = httpx.get(f"{server.url}/v1/pools/{ids['pools']['finance']}", headers=headers).json()
    assert pool["machine_count"] == 1
    bad = httpx.post(
        f"{server.url}/_emulator/seed",
        json={"machines": [{"name": "x", "pools": ["missing"]}]},
        headers={"X-Emulator-Admin-Token": server.admin_token},
    )
    assert bad.status_code == 422
    server.admin.reset()
    assert httpx.get(f"{server.url}/v1/machines", headers=headers).json()["total"] == 0
