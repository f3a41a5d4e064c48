"""Machine matching, sessions competing for machines, priority, and cancel."""

from __future__ import annotations

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
