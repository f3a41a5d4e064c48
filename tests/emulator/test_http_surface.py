"""HTTP surface: auth, scoping, status codes, error bodies, CRUD of machines/pools/workflows.

Requests are plain httpx calls shaped like the examples of cyberdesk-api.md, i.e. what an
unchanged third-party client sends.
"""

from __future__ import annotations

import uuid

import httpx

from cyberdesk_emulator import EmulatorServer

from .conftest import Api


def test_health_needs_no_key(server: EmulatorServer) -> None:
    for path in ("/v1/health", "/v1/health/db", "/health/live", "/health/ready", "/health", "/"):
        response = httpx.get(server.url + path)
        assert response.status_code == 200, path
    assert httpx.get(server.url + "/v1/health").json()["status"] == "healthy"


def test_missing_or_invalid_key_is_401(server: EmulatorServer) -> None:
    bare = httpx.get(server.url + "/v1/runs")
    assert bare.status_code == 401
    assert isinstance(bare.json()["detail"], str)
    wrong = httpx.get(server.url + "/v1/workflows", headers={"Authorization": "Bearer cd_nope"})
    assert wrong.status_code == 401
    assert httpx.get(server.url + "/v1/health/machines").status_code == 401


def test_default_organization_key_works(server: EmulatorServer) -> None:
    response = httpx.get(
        server.url + "/v1/machines", headers={"Authorization": f"Bearer {server.api_key}"}
    )
    assert response.status_code == 200
    assert server.api_key == "cd_emulator_key"


def test_foreign_ids_are_404_between_organizations(api: Api, other_api: Api) -> None:
    workflow = api.workflow()
    machine = api.machine()
    pool = api.pool("finance")
    run = api.run(workflow_id=workflow["id"])
    foreign = other_api.client
    for path in (
        f"/v1/workflows/{workflow['id']}",
        f"/v1/machines/{machine['id']}",
        f"/v1/pools/{pool['id']}",
        f"/v1/runs/{run['id']}",
    ):
        response = foreign.get(path)
        assert response.status_code == 404, path
        assert "not found" in response.json()["detail"]
    assert foreign.post("/v1/runs", json={"workflow_id": workflow["id"]}).status_code == 404
    assert foreign.delete(f"/v1/runs/{run['id']}").status_code == 404
    assert foreign.get("/v1/runs").json()["total"] == 0
    assert api.client.get("/v1/runs").json()["total"] == 1


def test_validation_errors_are_fastapi_422(api: Api) -> None:
    bad_uuid = api.client.get("/v1/runs/not-a-uuid")
    assert bad_uuid.status_code == 422
    detail = bad_uuid.json()["detail"]
    assert {"loc", "msg", "type"} <= set(detail[0])
    missing = api.client.post("/v1/runs", json={"sensitive_input_values": {"pw": "hunter2"}})
    assert missing.status_code == 422
    assert any(err["loc"] == ["body", "workflow_id"] for err in missing.json()["detail"])
    assert "hunter2" not in missing.text
    too_big = api.client.get("/v1/runs", params={"limit": 1001})
    assert too_big.status_code == 422
    bad_file = api.client.post(
        "/v1/runs",
        json={
            "workflow_id": str(uuid.uuid4()),
            "file_inputs": [{"filename": "a", "content": "!!"}],
        },
    )
    assert bad_file.status_code == 422


def test_machine_crud_and_pools(api: Api) -> None:
    created = api.machine("win-01", hostname="WIN-01", machine_parameters={"region": "eu"})
    assert created["status"] == "connected"
    assert created["is_available"] is True
    machine_id = created["id"]
    patched = api.client.patch(f"/v1/machines/{machine_id}", json={"name": "win-renamed"})
    assert patched.status_code == 200
    assert patched.json()["name"] == "win-renamed"
    assert patched.json()["hostname"] == "WIN-01"
    listed = api.client.get("/v1/machines", params={"search": "renamed"}).json()
    assert [m["id"] for m in listed["items"]] == [machine_id]
    assert set(listed) == {"items", "total", "skip", "limit", "included"}
    assert api.client.get("/v1/machines", params={"name": "win-01"}).json()["total"] == 0
    pool_a, pool_b = api.pool("a"), api.pool("b")
    put = api.client.put(
        f"/v1/machines/{machine_id}/pools", json={"pool_ids": [pool_a["id"], pool_b["id"]]}
    )
    assert put.status_code == 200
    assert put.json()["id"] == machine_id
    pools = api.client.get(f"/v1/machines/{machine_id}/pools").json()
    assert isinstance(pools, list)
    assert {p["id"] for p in pools} == {pool_a["id"], pool_b["id"]}
    with_pools = api.client.get(f"/v1/machines/{machine_id}", params={"include": "pools"}).json()
    assert {(i["type"], i["id"]) for i in with_pools["included"]} == {
        ("pool", pool_a["id"]),
        ("pool", pool_b["id"]),
    }
    api.client.put(f"/v1/machines/{machine_id}/pools", json={"pool_ids": [pool_b["id"]]})
    assert api.client.get(f"/v1/pools/{pool_a['id']}").json()["machine_count"] == 0
    deleted = api.client.delete(f"/v1/machines/{machine_id}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert api.client.get(f"/v1/machines/{machine_id}").status_code == 404


def test_pool_membership_endpoints(api: Api) -> None:
    m1, m2 = api.machine("m1"), api.machine("m2")
    pool = api.pool("ops", pool_parameters={"site": "berlin"})
    added = api.client.post(
        f"/v1/pools/{pool['id']}/machines", json={"machine_ids": [m1["id"], m2["id"]]}
    )
    assert added.status_code == 200
    body = added.json()
    assert {m["id"] for m in body["machines"]} == {m1["id"], m2["id"]}
    assert body["machine_count"] == 2
    removed = api.client.request(
        "DELETE", f"/v1/pools/{pool['id']}/machines", json={"machine_ids": [m1["id"]]}
    )
    assert removed.status_code == 204
    got = api.client.get(f"/v1/pools/{pool['id']}", params={"include": "machines"}).json()
    assert [m["id"] for m in got["machines"]] == [m2["id"]]
    assert [i["id"] for i in got["included"]] == [m2["id"]]
    listed = api.client.get("/v1/pools", params={"include": "machines"}).json()
    assert listed["total"] == 1
    assert listed["included"][0]["type"] == "machine"
    patched = api.client.patch(f"/v1/pools/{pool['id']}", json={"pool_parameters": {}})
    assert patched.json()["pool_parameters"] is None
    assert api.client.delete(f"/v1/pools/{pool['id']}").status_code == 204
    assert api.client.get(f"/v1/machines/{m2['id']}").json()["pools"] == []


def test_sensitive_parameters_are_aliases_only(api: Api) -> None:
    machine = api.machine("m", machine_sensitive_parameters={"password": "pa55word"})
    assert "pa55word" not in str(machine)
    assert set(machine["machine_sensitive_parameters"]) == {"password"}
    pool = api.pool("p", pool_sensitive_parameters={"token": "tok-123"})
    assert "tok-123" not in str(pool)
    cleared = api.client.patch(
        f"/v1/machines/{machine['id']}", json={"machine_sensitive_parameters": {}}
    )
    assert cleared.json()["machine_sensitive_parameters"] is None


def test_workflow_crud_versions_duplicate(api: Api) -> None:
    workflow = api.workflow(main_prompt="Export {month}", is_webhooks_enabled=False)
    wf_id = workflow["id"]
    assert workflow["includes_input_variables"] is True
    got = api.client.get(f"/v1/workflows/{wf_id}").json()
    assert got["included"] == []
    patched = api.client.patch(f"/v1/workflows/{wf_id}", json={"main_prompt": "Export {year}"})
    assert patched.status_code == 200
    versions = api.client.get(f"/v1/workflows/{wf_id}/versions").json()
    assert versions[0]["main_prompt"] == "Export {month}"
    dup = api.client.post(f"/v1/workflows/{wf_id}/duplicate", json={})
    assert dup.status_code == 201
    assert dup.json()["name"].startswith("(Copy)")
    listing = api.client.get("/v1/workflows", params={"search": workflow["name"]}).json()
    assert listing["total"] == 2
    assert api.client.delete(f"/v1/workflows/{wf_id}").status_code == 204
    assert api.client.get(f"/v1/workflows/{wf_id}").status_code == 404


def test_workflow_behaviour_block_in_prompt(api: Api) -> None:
    prompt = 'Do it\n```emulator-behavior\n{"duration": 0, "outcome": "task_failed"}\n```'
    workflow = api.workflow(main_prompt=prompt)
    machine = api.machine()
    run = api.run(workflow_id=workflow["id"], machine_id=machine["id"])
    assert api.wait(run["id"])["status"] == "task_failed"
    broken = api.client.post(
        "/v1/workflows", json={"main_prompt": "```emulator-behavior\n{nope```"}
    )
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["loc"] == ["body", "main_prompt"]


def test_health_machines_reports_errors(api: Api) -> None:
    assert api.client.get("/v1/health/machines").json()["status"] == "ok"
    machine = api.machine()
    api.client.patch(f"/v1/machines/{machine['id']}", json={"status": "error"})
    response = api.client.get("/v1/health/machines")
    assert response.status_code == 503
    assert response.json()["errored_machines"][0]["machine_id"] == machine["id"]


def test_openapi_document_describes_routes(server: EmulatorServer) -> None:
    spec = httpx.get(server.url + "/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/runs",
        "/v1/runs/bulk",
        "/v1/runs/chain",
        "/v1/runs/{run_id}/retry",
        "/v1/run-attachments/{attachment_id}/download-url",
        "/v1/machines/{machine_id}/pools",
        "/v1/pools/{pool_id}/machines",
        "/v1/workflows/{workflow_id}",
    ):
        assert path in paths, path
    assert not any(p.startswith("/_emulator") for p in paths)
    create = paths["/v1/runs"]["post"]["responses"]
    assert "201" in create
    assert create["201"]["content"]["application/json"]["schema"]["$ref"].endswith("RunOut")


def test_dashboard_page_shows_status_without_secrets(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0})
    api.machine()
    run = api.run(
        workflow_id=workflow["id"],
        input_values={"month": "2026-10"},
        sensitive_input_values={"password": "do-not-show"},
    )
    api.wait(run["id"])
    page = httpx.get(f"{api.server.url}/dashboard/runs/{run['id']}")
    assert page.status_code == 200
    assert "success" in page.text
    assert "do-not-show" not in page.text
    assert httpx.get(f"{api.server.url}/dashboard/runs/{uuid.uuid4()}").status_code == 404


def test_values_beyond_64_bit_integers_round_trip(api: Api) -> None:
    # Responses are encoded with orjson, which refuses integers beyond 64 bits; those
    # responses fall back to the standard encoder instead of failing.
    huge = 2**70 + 3
    workflow = api.workflow()
    run = api.run(workflow_id=workflow["id"], input_values={"account": huge, "name": "Ünïcode"})
    assert run["input_values"] == {"account": huge, "name": "Ünïcode"}
    listed = api.client.get("/v1/runs", params={"workflow_id": workflow["id"]})
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/json"
    assert listed.json()["items"][0]["input_values"]["account"] == huge
    assert api.get_run(run["id"])["input_values"]["account"] == huge
