"""Machine matching, sessions, chains, refs, cancel, retry, bulk and cascade deletes."""

from __future__ import annotations

import itertools
from typing import Any

from .conftest import Api, wait_until

LONG = {"duration": 100_000}


def test_pinned_busy_machine_makes_runs_wait_without_fallback(api: Api) -> None:
    workflow = api.workflow(behavior=LONG)
    pinned = api.machine("pinned")
    spare = api.machine("spare")
    first = api.run(workflow_id=workflow["id"], machine_id=pinned["id"])
    api.wait(first["id"], {"running"})
    second = api.run(workflow_id=workflow["id"], machine_id=pinned["id"])
    state = wait_until(lambda: api.server.admin.run_state(second["id"]))
    assert state["queue_position"] is not None
    assert api.get_run(second["id"])["status"] == "scheduling"
    assert api.client.get(f"/v1/machines/{spare['id']}").json()["is_available"] is True
    assert api.client.get(f"/v1/machines/{pinned['id']}").json()["is_available"] is False
    api.server.admin.finish_run(first["id"])
    running = api.wait(second["id"], {"running"})
    assert running["machine_id"] == pinned["id"]


def test_pool_ids_need_membership_in_every_pool(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0})
    only_a = api.machine("only-a")
    both = api.machine("both")
    pool_a = api.pool("a", [only_a["id"], both["id"]])
    pool_b = api.pool("b", [both["id"]])
    runs = [
        api.run(workflow_id=workflow["id"], pool_ids=[pool_a["id"], pool_b["id"]]) for _ in range(3)
    ]
    for run in runs:
        assert api.wait(run["id"])["machine_id"] == both["id"]


def test_unmatched_runs_wait_until_a_machine_appears(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0})
    run = api.run(workflow_id=workflow["id"])
    assert api.get_run(run["id"])["status"] == "scheduling"
    machine = api.machine()
    assert api.wait(run["id"])["machine_id"] == machine["id"]


def test_two_sessions_compete_for_one_pool(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 20})
    machine = api.machine("shared")
    pool = api.pool("desktops", [machine["id"]])
    a1 = api.run(workflow_id=workflow["id"], pool_ids=[pool["id"]], start_session=True)
    b1 = api.run(workflow_id=workflow["id"], pool_ids=[pool["id"]], start_session=True)
    assert a1["session_id"] == a1["id"]
    assert b1["session_id"] == b1["id"]
    a1_running = api.wait(a1["id"], {"running", "success"})
    assert a1_running["machine_id"] == machine["id"]
    reserved = api.client.get(f"/v1/machines/{machine['id']}").json()["reserved_session_id"]
    assert reserved == a1["id"]
    a2 = api.run(workflow_id=workflow["id"], session_id=a1["id"], release_session_after=True)
    done_a2 = api.wait(a2["id"])
    done_a1 = api.get_run(a1["id"])
    assert done_a2["machine_id"] == machine["id"]
    # Session B could not start before session A released the machine.
    done_b1 = api.wait(b1["id"])
    assert done_b1["started_at"] >= done_a2["ended_at"] >= done_a1["ended_at"]
    session_b_machine = api.client.get(f"/v1/machines/{machine['id']}").json()
    assert session_b_machine["reserved_session_id"] == b1["id"]


def test_two_sessions_on_a_two_machine_pool_run_side_by_side(api: Api) -> None:
    workflow = api.workflow(behavior=LONG)
    m1, m2 = api.machine("m1"), api.machine("m2")
    pool = api.pool("pair", [m1["id"], m2["id"]])
    a = api.run(workflow_id=workflow["id"], pool_ids=[pool["id"]], start_session=True)
    b = api.run(workflow_id=workflow["id"], pool_ids=[pool["id"]], start_session=True)
    ra, rb = api.wait(a["id"], {"running"}), api.wait(b["id"], {"running"})
    assert {ra["machine_id"], rb["machine_id"]} == {m1["id"], m2["id"]}
    # Another run (no session) must not take a machine reserved by a session.
    loose = api.run(workflow_id=workflow["id"])
    api.server.admin.finish_run(a["id"])
    api.wait(a["id"])
    assert api.get_run(loose["id"])["status"] == "scheduling"
    cleared = api.client.patch(
        f"/v1/machines/{ra['machine_id']}", json={"reserved_session_id": None}
    )
    assert cleared.json()["reserved_session_id"] is None
    assert api.wait(loose["id"], {"running"})["machine_id"] == ra["machine_id"]


def test_clearing_a_session_cancels_its_runs(api: Api) -> None:
    workflow = api.workflow(behavior=LONG)
    machine = api.machine()
    first = api.run(workflow_id=workflow["id"], start_session=True)
    api.wait(first["id"], {"running"})
    queued = api.run(workflow_id=workflow["id"], session_id=first["session_id"])
    api.client.patch(f"/v1/machines/{machine['id']}", json={"reserved_session_id": None})
    assert api.wait(first["id"])["status"] == "cancelled"
    assert api.wait(queued["id"])["status"] == "cancelled"
    assert api.client.get(f"/v1/machines/{machine['id']}").json()["is_available"] is True


def test_priority_runs_go_first_then_fifo(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 1})
    normal = [api.run(workflow_id=workflow["id"]) for _ in range(3)]
    urgent = api.run(workflow_id=workflow["id"], is_priority=True)
    api.machine()
    order = [urgent, *normal]
    finished = [api.wait(r["id"]) for r in order]
    starts = [r["started_at"] for r in finished]
    assert starts == sorted(starts)


def test_cancel_running_run_frees_machine_for_next(api: Api) -> None:
    workflow = api.workflow(behavior=LONG)
    quick = api.workflow(behavior={"duration": 0})
    machine = api.machine()
    blocker = api.run(workflow_id=workflow["id"])
    api.wait(blocker["id"], {"running"})
    nxt = api.run(workflow_id=quick["id"])
    cancelled = api.client.patch(f"/v1/runs/{blocker['id']}", json={"status": "cancelled"})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["ended_at"] is not None
    assert api.wait(nxt["id"])["status"] == "success"
    assert api.get_run(nxt["id"])["machine_id"] == machine["id"]
    assert api.server.admin.run_state(blocker["id"])["executing"] is False


def test_cancel_releases_session_when_asked(api: Api) -> None:
    workflow = api.workflow(behavior=LONG)
    machine = api.machine()
    run = api.run(workflow_id=workflow["id"], start_session=True, release_session_after=True)
    api.wait(run["id"], {"running"})
    api.client.patch(f"/v1/runs/{run['id']}", json={"status": "cancelled"})
    got = api.client.get(f"/v1/machines/{machine['id']}").json()
    assert got["reserved_session_id"] is None
    assert got["is_available"] is True


def test_cancel_a_scheduling_run(api: Api) -> None:
    workflow = api.workflow()
    run = api.run(workflow_id=workflow["id"])
    done = api.client.patch(f"/v1/runs/{run['id']}", json={"status": "cancelled"}).json()
    assert done["status"] == "cancelled"
    assert done["started_at"] is None


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
