"""Listing runs (filters, sort modes, fields, include, search) and 10,000 runs in memory."""

from __future__ import annotations

from typing import Any

from .conftest import Api

LONG = {"duration": 100_000}


def _ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def test_list_filters_sort_fields_include_search(api: Api) -> None:
    quick = api.workflow(behavior={"duration": 0, "output": {"invoice": "{{ inputs.invoice }}"}})
    slow = api.workflow(behavior=LONG)
    machine = api.machine()
    done = [
        api.wait(api.run(workflow_id=quick["id"], input_values={"invoice": f"INV-{i}"})["id"])
        for i in range(3)
    ]
    active = api.run(workflow_id=slow["id"])
    api.wait(active["id"], {"running"})
    page = api.client.get("/v1/runs").json()
    assert _ids(page)[0] == active["id"]
    strict = api.client.get("/v1/runs", params={"sort_mode": "created_at_desc"}).json()
    assert _ids(strict) == [active["id"], *[r["id"] for r in reversed(done)]]
    only = api.client.get(
        "/v1/runs", params={"workflow_id": quick["id"], "status": "success"}
    ).json()
    assert only["total"] == 3
    assert api.client.get("/v1/runs", params={"status": "running"}).json()["total"] == 1
    assert api.client.get("/v1/runs", params={"machine_id": machine["id"]}).json()["total"] == 4
    hit = api.client.get("/v1/runs", params={"search": "inv-1"}).json()
    assert _ids(hit) == [done[1]["id"]]
    assert api.client.get("/v1/runs", params={"search": done[2]["id"][:13]}).json()["total"] == 1
    history = {"search": "simulated execution finished"}
    assert api.client.get("/v1/runs", params=history).json()["total"] == 0
    deep = api.client.get("/v1/runs", params={**history, "deep_search": "true"}).json()
    assert deep["total"] == 3
    window = api.client.get(
        "/v1/runs",
        params={"created_at_from": done[1]["created_at"], "created_at_to": done[2]["created_at"]},
    ).json()
    assert set(_ids(window)) == {done[1]["id"], done[2]["id"]}
    projected = api.client.get(
        "/v1/runs",
        params=[("fields", "output_data"), ("fields", "session_id"), ("limit", "2"), ("skip", "1")],
    ).json()
    assert projected["skip"] == 1
    assert projected["limit"] == 2
    assert projected["total"] == 4
    for item in projected["items"]:
        assert set(item) == {
            "id",
            "workflow_id",
            "machine_id",
            "status",
            "created_at",
            "output_data",
            "session_id",
        }
    included = api.client.get(
        "/v1/runs", params={"include": "workflow,machine,machine.pools"}
    ).json()
    kinds = sorted((i["type"], i["id"]) for i in included["included"])
    assert kinds == sorted(
        [("workflow", quick["id"]), ("workflow", slow["id"]), ("machine", machine["id"])]
    )
    single = api.client.get(f"/v1/runs/{active['id']}", params={"include": "machine"}).json()
    assert single["included"][0]["id"] == machine["id"]
    assert api.client.get("/v1/runs").json()["included"] is None


def test_ten_thousand_runs_in_memory(api: Api) -> None:
    workflow = api.workflow()
    for _ in range(10):
        response = api.client.post(
            "/v1/runs/bulk", json={"workflow_id": workflow["id"], "count": 1000}
        )
        assert response.status_code == 201
    first = api.client.get(
        "/v1/runs",
        params={
            "workflow_id": workflow["id"],
            "limit": 1000,
            "fields": "session_id",
        },
    ).json()
    assert first["total"] == 10_000
    assert len(first["items"]) == 1000
    seen: set[str] = set()
    skip = 0
    while skip < first["total"]:
        page = api.client.get(
            "/v1/runs", params={"limit": 1000, "skip": skip, "fields": "session_id"}
        ).json()
        seen.update(_ids(page))
        skip += 1000
    assert len(seen) == 10_000
