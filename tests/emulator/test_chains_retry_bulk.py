"""Chains and refs, ad-hoc sessions, retry, bulk creates and cascade deletes."""

from __future__ import annotations

import itertools

from .conftest import Api, wait_until

LONG = {"duration": 100_000}


def test_chain_runs_in_order_and_resolves_refs(api: Api) -> None:
    extract = api.workflow(
        main_prompt="Extract {month}",
        behavior={"duration": 5, "output": {"total": 1250, "rows": [{"id": "r1"}]}},
    )
    report = api.workflow(
        main_prompt="Report {month} {total}",
        behavior={
            "duration": 5,
            "output": {
                "line": "{{ inputs.month }}: {{ inputs.total }}",
                "first": "{{ inputs.first }}",
            },
        },
    )
    other = api.workflow(main_prompt="Unrelated {x}", behavior={"duration": 0})
    machine = api.machine()
    response = api.client.post(
        "/v1/runs/chain",
        json={
            "steps": [
                {"workflow_id": extract["id"], "session_alias": "step1"},
                {
                    "workflow_id": report["id"],
                    "session_alias": "step2",
                    "inputs": {
                        "total": {"$ref": "step1.outputs.total"},
                        "first": {"$ref": "step1.outputs.rows.0.id"},
                    },
                },
                {"workflow_id": other["id"]},
            ],
            "shared_inputs": {"month": "2026-10"},
            "shared_sensitive_inputs": {"erp_password": "pw"},
        },
    )
    assert response.status_code == 201
    chain = response.json()
    assert set(chain) == {"session_id", "run_ids"}
    runs = [api.wait(run_id) for run_id in chain["run_ids"]]
    assert [r["status"] for r in runs] == ["success"] * 3, runs[1]["error"]
    assert all(r["session_id"] == chain["session_id"] for r in runs)
    assert all(r["machine_id"] == machine["id"] for r in runs)
    assert runs[0]["ended_at"] <= runs[1]["started_at"]
    assert runs[1]["ended_at"] <= runs[2]["started_at"]
    assert runs[1]["output_data"] == {"line": "2026-10: 1250", "first": "r1"}
    assert runs[1]["input_values"]["total"] == {"$ref": "step1.outputs.total"}
    assert runs[2]["input_values"] == {}
    assert runs[2]["release_session_after"] is True
    assert api.client.get(f"/v1/machines/{machine['id']}").json()["reserved_session_id"] is None
    by_session = api.client.get("/v1/runs", params={"session_id": chain["session_id"]}).json()
    assert by_session["total"] == 3


def test_bad_ref_ends_run_in_error_with_clear_message(api: Api) -> None:
    producer = api.workflow(behavior={"duration": 0, "output": {"total": 1}})
    consumer = api.workflow(behavior={"duration": 0})
    api.machine()
    chain = api.client.post(
        "/v1/runs/chain",
        json={
            "steps": [
                {"workflow_id": producer["id"], "session_alias": "step1"},
                {"workflow_id": consumer["id"], "inputs": {"x": {"$ref": "step1.outputs.missing"}}},
                {"workflow_id": consumer["id"], "inputs": {"y": {"$ref": "nobody.outputs.total"}}},
            ]
        },
    ).json()
    first, second, third = (api.wait(run_id) for run_id in chain["run_ids"])
    assert first["status"] == "success"
    assert second["status"] == "error"
    assert "step1.outputs.missing" in second["error"][0]
    assert "no value at 'missing'" in second["error"][0]
    assert second["input_values"] == {"x": {"$ref": "step1.outputs.missing"}}
    assert third["status"] == "error"
    assert "session_alias 'nobody'" in third["error"][0]


def test_ad_hoc_session_with_ref(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0, "output": {"n": 41, "echo": "{{ inputs.n }}"}})
    api.machine()
    first = api.run(workflow_id=workflow["id"], start_session=True, session_alias="first")
    second = api.run(
        workflow_id=workflow["id"],
        session_id=first["session_id"],
        input_values={"n": {"$ref": "first.outputs.n"}},
        release_session_after=True,
    )
    assert api.wait(second["id"])["output_data"]["echo"] == 41


def test_unknown_session_is_404(api: Api) -> None:
    workflow = api.workflow()
    response = api.client.post(
        "/v1/runs",
        json={"workflow_id": workflow["id"], "session_id": "7b3c5c5e-1f2a-4c7a-9d59-000000000000"},
    )
    assert response.status_code == 404


def test_retry_failed_run_keeps_id_and_clears_outputs(api: Api) -> None:
    workflow = api.workflow(
        behavior={"duration": 0, "outcome": "error", "files": [{"name": "out.txt", "content": "x"}]}
    )
    api.machine()
    run = api.run(
        workflow_id=workflow["id"],
        input_values={"month": "oct"},
        sensitive_input_values={"pw": "one"},
        is_priority=True,
    )
    failed = api.wait(run["id"])
    assert failed["status"] == "error"
    api.server.admin.set_workflow_behavior(
        workflow["id"], {"duration": 100_000, "files": [{"name": "out.txt", "content": "ok"}]}
    )
    retried = api.client.post(f"/v1/runs/{run['id']}/retry", json={})
    assert retried.status_code == 200
    body = retried.json()
    assert body["id"] == run["id"]
    assert body["status"] == "scheduling"
    assert body["error"] is None
    assert body["output_data"] is None
    assert body["output_attachment_ids"] == []
    assert body["started_at"] is None
    assert body["ended_at"] is None
    assert body["sensitive_input_aliases"] is None
    assert body["input_values"] == {"month": "oct"}
    assert body["is_priority"] is True
    busy = api.client.post(f"/v1/runs/{run['id']}/retry", json={})
    assert busy.status_code == 409
    assert "terminal" in busy.json()["detail"]
    api.wait(run["id"], {"running"})
    api.server.admin.finish_run(run["id"])
    done = api.wait(run["id"])
    assert done["status"] == "success"
    assert len(done["output_attachment_ids"]) == 1
    again = api.client.post(
        f"/v1/runs/{run['id']}/retry",
        json={"input_values": {"month": "nov"}, "sensitive_input_values": {"pw": "two"}},
    ).json()
    assert again["input_values"] == {"month": "nov"}
    assert set(again["sensitive_input_aliases"]) == {"pw"}
    assert api.client.get("/v1/runs", params={"workflow_id": workflow["id"]}).json()["total"] == 1


def test_retry_session_options(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0})
    api.machine()
    run = api.run(workflow_id=workflow["id"], start_session=True, release_session_after=True)
    api.wait(run["id"])
    kept = api.client.post(f"/v1/runs/{run['id']}/retry", json={}).json()
    assert kept["session_id"] == run["id"]
    api.wait(run["id"])
    fresh = api.client.post(f"/v1/runs/{run['id']}/retry", json={"start_session": True}).json()
    assert fresh["session_id"] not in (None, run["id"])
    api.wait(run["id"])
    dropped = api.client.post(f"/v1/runs/{run['id']}/retry", json={"reuse_session": False}).json()
    assert dropped["session_id"] is None
    assert api.wait(run["id"])["status"] == "success"


def test_bulk_of_200_runs(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0})
    machines = [api.machine(f"m{i}") for i in range(4)]
    response = api.client.post(
        "/v1/runs/bulk",
        json={
            "workflow_id": workflow["id"],
            "count": 200,
            "input_values": {"batch": "b1"},
            "sensitive_input_values": {"token": "t"},
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["failed_count"] == 0
    created = body["created_runs"]
    assert len(created) == 200
    assert len({r["id"] for r in created}) == 200
    aliases = {r["sensitive_input_aliases"]["token"] for r in created}
    assert len(aliases) == 200
    wait_until(
        lambda: (
            api.client.get(
                "/v1/runs", params={"workflow_id": workflow["id"], "status": "success", "limit": 1}
            ).json()["total"]
            == 200
        ),
        timeout=30,
    )
    used = {
        r["machine_id"] for r in api.client.get("/v1/runs", params={"limit": 1000}).json()["items"]
    }
    assert used == {m["id"] for m in machines}


def test_bulk_count_bounds_are_422(api: Api) -> None:
    workflow = api.workflow()
    for count in (0, 1001, -1):
        response = api.client.post(
            "/v1/runs/bulk", json={"workflow_id": workflow["id"], "count": count}
        )
        assert response.status_code == 422, count
        assert response.json()["detail"][0]["loc"] == ["body", "count"]


def test_bulk_with_session_runs_in_order_on_one_machine(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 1})
    api.machine("a")
    api.machine("b")
    body = api.client.post(
        "/v1/runs/bulk", json={"workflow_id": workflow["id"], "count": 5, "start_session": True}
    ).json()
    sessions = {r["session_id"] for r in body["created_runs"]}
    assert len(sessions) == 1
    assert None not in sessions
    done = [api.wait(r["id"]) for r in body["created_runs"]]
    assert len({r["machine_id"] for r in done}) == 1
    for earlier, later in itertools.pairwise(done):
        assert earlier["ended_at"] <= later["started_at"]


def test_cascade_deletes(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0, "files": [{"name": "f.txt", "content": "x"}]})
    machine = api.machine()
    pool = api.pool("p", [machine["id"]])
    run = api.wait(api.run(workflow_id=workflow["id"])["id"])
    att_id = run["output_attachment_ids"][0]
    assert api.client.delete(f"/v1/pools/{pool['id']}").status_code == 204
    assert api.client.get(f"/v1/machines/{machine['id']}").status_code == 200
    assert api.client.delete(f"/v1/machines/{machine['id']}").status_code == 204
    assert api.get_run(run["id"])["machine_id"] is None
    assert api.client.delete(f"/v1/workflows/{workflow['id']}").status_code == 204
    assert api.client.get(f"/v1/runs/{run['id']}").status_code == 404
    assert api.client.get(f"/v1/run-attachments/{att_id}").status_code == 404


def test_delete_run_removes_attachments_and_stops_it(api: Api) -> None:
    workflow = api.workflow(behavior=LONG)
    machine = api.machine()
    run = api.run(
        workflow_id=workflow["id"], file_inputs=[{"filename": "a.txt", "content": "YQ=="}]
    )
    api.wait(run["id"], {"running"})
    assert api.client.delete(f"/v1/runs/{run['id']}").status_code == 204
    assert (
        api.client.get(f"/v1/run-attachments/{run['input_attachment_ids'][0]}").status_code == 404
    )
    assert wait_until(
        lambda: api.client.get(f"/v1/machines/{machine['id']}").json()["is_available"]
    )
