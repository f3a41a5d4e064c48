"""Run state machine, behaviours, outputs, attachments, secrets, parameter layering."""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlencode, urlparse

import httpx

from .conftest import Api, wait_until


def test_default_behaviour_succeeds_with_plausible_output(api: Api) -> None:
    workflow = api.workflow()
    api.machine()
    run = api.run(workflow_id=workflow["id"], input_values={"month": "2026-10", "entity": "ACME"})
    assert run["status"] == "scheduling"
    assert run["machine_id"] is None
    assert run["started_at"] is None
    assert run["ended_at"] is None
    done = api.wait(run["id"])
    assert done["status"] == "success"
    assert done["output_data"] == {"status": "completed", "inputs_received": ["entity", "month"]}
    assert done["machine_id"] is not None
    assert done["started_at"] <= done["ended_at"]


def test_state_machine_passes_running_and_running_checks(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 100_000, "checks_duration": 100_000})
    machine = api.machine()
    run = api.run(workflow_id=workflow["id"])
    running = api.wait(run["id"], {"running"})
    assert running["started_at"] is not None
    assert running["ended_at"] is None
    api.server.admin.finish_run(run["id"])
    checks = api.wait(run["id"], {"running_checks"})
    assert checks["ended_at"] is None
    assert checks["post_run_checks"][0]["status"] == "running"
    # A standalone run hands its machine back while checks run.
    machine_now = api.client.get(f"/v1/machines/{machine['id']}").json()
    assert machine_now["is_available"] is True
    api.server.admin.finish_run(run["id"])
    done = api.wait(run["id"])
    assert done["status"] == "success"
    assert done["post_run_checks"][0]["status"] == "success"


def test_failed_post_run_check_turns_success_into_error(api: Api) -> None:
    workflow = api.workflow(
        behavior={"duration": 0, "checks_duration": 1, "checks_outcome": "error"}
    )
    api.machine()
    done = api.wait(api.run(workflow_id=workflow["id"])["id"])
    assert done["status"] == "error"
    assert "Post-run check" in done["error"][0]


def test_outcomes_and_error_message_template(api: Api) -> None:
    failing = api.workflow(
        behavior={
            "duration": 0,
            "outcome": "error",
            "error_message": "ERP down for {{ inputs.entity }}",
        }
    )
    declined = api.workflow(behavior={"duration": 0, "outcome": "task_failed"})
    api.machine()
    err = api.wait(api.run(workflow_id=failing["id"], input_values={"entity": "ACME"})["id"])
    assert err["status"] == "error"
    assert err["error"] == ["ERP down for ACME"]
    assert err["output_data"] is None
    assert api.wait(api.run(workflow_id=declined["id"])["id"])["status"] == "task_failed"


def test_probabilistic_outcomes_use_both_branches(api: Api) -> None:
    workflow = api.workflow(
        behavior={"duration": [0, 1], "outcome": {"success": 0.5, "error": 0.5}}
    )
    api.machine()
    created = api.client.post("/v1/runs/bulk", json={"workflow_id": workflow["id"], "count": 30})
    ids = [r["id"] for r in created.json()["created_runs"]]
    statuses = {api.wait(run_id, timeout=20)["status"] for run_id in ids}
    assert statuses == {"success", "error"}


def test_output_template_files_and_downloads(api: Api) -> None:
    behavior = {
        "duration": 1,
        "output": {
            "month": "{{ inputs.month }}",
            "total": "{{ inputs.totals.eur }}",
            "summary": "TB for {{ inputs.month | upper }}",
            "password_hash": "{{ secrets.password | sha256 }}",
            "password": "{{ secrets.password }}",
        },
        "files": [
            {
                "name": "tb_{{ inputs.month }}.csv",
                "content": "account,amount\n1000,{{ inputs.totals.eur }}\n",
            }
        ],
    }
    workflow = api.workflow(behavior=behavior)
    api.machine()
    run = api.run(
        workflow_id=workflow["id"],
        input_values={"month": "oct", "totals": {"eur": 1250}},
        sensitive_input_values={"password": "s3cr3t!"},
    )
    done = api.wait(run["id"])
    assert done["output_data"]["month"] == "oct"
    assert done["output_data"]["total"] == 1250
    assert done["output_data"]["summary"] == "TB for OCT"
    assert done["output_data"]["password_hash"] == hashlib.sha256(b"s3cr3t!").hexdigest()
    assert done["output_data"]["password"] == "********"
    assert "s3cr3t!" not in api.client.get(f"/v1/runs/{run['id']}").text
    [att_id] = done["output_attachment_ids"]
    listing = api.client.get(
        "/v1/run-attachments", params={"run_id": run["id"], "attachment_type": "output"}
    ).json()
    assert [a["id"] for a in listing["items"]] == [att_id]
    meta = listing["items"][0]
    assert meta["filename"] == "tb_oct.csv"
    assert meta["content_type"] == "text/csv"
    raw = api.client.get(f"/v1/run-attachments/{att_id}/download")
    assert raw.status_code == 200
    assert raw.content == b"account,amount\n1000,1250\n"
    assert meta["size_bytes"] == len(raw.content)


def test_input_files_become_input_attachments(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0})
    content = base64.b64encode(b"hello world").decode()
    run = api.run(
        workflow_id=workflow["id"],
        file_inputs=[{"filename": "notes.txt", "content": content}],
    )
    [att_id] = run["input_attachment_ids"]
    meta = api.client.get(f"/v1/run-attachments/{att_id}").json()
    assert meta["attachment_type"] == "input"
    assert meta["size_bytes"] == 11
    assert meta["target_path"] == "~/CyberdeskTransfers/"
    assert meta["content_type"] == "text/plain"
    assert api.client.get(f"/v1/run-attachments/{att_id}/download").content == b"hello world"


def test_signed_download_url_expiry_and_tampering(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0})
    run = api.run(
        workflow_id=workflow["id"],
        file_inputs=[{"filename": "a.bin", "content": base64.b64encode(b"\x00\x01\x02").decode()}],
    )
    att_id = run["input_attachment_ids"][0]
    signed = api.client.get(
        f"/v1/run-attachments/{att_id}/download-url", params={"expires_in": 10}
    ).json()
    assert signed["expires_in"] == 10
    fetched = httpx.get(signed["url"])
    assert fetched.status_code == 200
    assert fetched.content == b"\x00\x01\x02"
    url = urlparse(signed["url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    base = f"{url.scheme}://{url.netloc}{url.path}"
    tampered_sig = httpx.get(base + "?" + urlencode({**query, "signature": "0" * 64}))
    assert tampered_sig.status_code == 403
    later = int(query["expires"]) + 3600
    tampered_exp = httpx.get(base + "?" + urlencode({**query, "expires": later}))
    assert tampered_exp.status_code == 403
    expired_sig = api.server.emulator.signer.sign(att_id, int(time.time()) - 1)
    expired = httpx.get(
        base + "?" + urlencode({"expires": int(time.time()) - 1, "signature": expired_sig})
    )
    assert expired.status_code == 403
    assert "expired" in expired.json()["detail"]
    for bad in (9, 3601):
        response = api.client.get(
            f"/v1/run-attachments/{att_id}/download-url", params={"expires_in": bad}
        )
        assert response.status_code == 422


def test_attachment_create_update_delete(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0})
    run = api.run(workflow_id=workflow["id"])
    created = api.client.post(
        "/v1/run-attachments",
        json={
            "run_id": run["id"],
            "filename": "report.pdf",
            "content": base64.b64encode(b"%PDF").decode(),
            "content_type": "application/pdf",
            "attachment_type": "output",
        },
    )
    assert created.status_code == 201
    att = created.json()
    assert api.get_run(run["id"])["output_attachment_ids"] == [att["id"]]
    updated = api.client.put(
        f"/v1/run-attachments/{att['id']}", json={"expires_at": "2030-01-01T00:00:00Z"}
    )
    assert updated.json()["expires_at"].startswith("2030-01-01")
    assert api.client.delete(f"/v1/run-attachments/{att['id']}").status_code == 204
    assert api.client.get(f"/v1/run-attachments/{att['id']}").status_code == 404


def test_secrets_leave_the_vault_when_the_run_ends(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 100_000})
    api.machine()
    run = api.run(workflow_id=workflow["id"], sensitive_input_values={"pin": {"nested": "1234"}})
    assert set(run["sensitive_input_aliases"]) == {"pin"}
    assert "1234" not in str(run)
    api.wait(run["id"], {"running"})
    assert api.server.admin.run_state(run["id"])["secrets_held"] is True
    api.server.admin.finish_run(run["id"])
    done = api.wait(run["id"])
    assert done["sensitive_input_aliases"] == run["sensitive_input_aliases"]
    assert api.server.admin.run_state(run["id"])["secrets_held"] is False


def test_parameter_layering_run_over_machine_over_pool(api: Api) -> None:
    behavior = {
        "duration": 0,
        "output": {"a": "{{ inputs.a }}", "b": "{{ inputs.b }}", "c": "{{ inputs.c }}"},
    }
    workflow = api.workflow(behavior=behavior)
    machine = api.machine(machine_parameters={"a": "machine", "b": "machine"})
    pool = api.pool("p", [machine["id"]], pool_parameters={"a": "pool", "b": "pool", "c": "pool"})
    with_pool = api.wait(
        api.run(
            workflow_id=workflow["id"], pool_ids=[pool["id"]], input_values={"a": "run", "b": ""}
        )["id"]
    )
    assert with_pool["output_data"] == {"a": "run", "b": "machine", "c": "pool"}
    assert with_pool["input_values"] == {"a": "run", "b": ""}
    without_pool = api.wait(api.run(workflow_id=workflow["id"])["id"])
    assert without_pool["output_data"] == {"a": "machine", "b": "machine", "c": None}


def test_patch_run_fields_and_terminal_rules(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0})
    api.machine()
    run = api.wait(api.run(workflow_id=workflow["id"])["id"])
    patched = api.client.patch(
        f"/v1/runs/{run['id']}", json={"usage_metadata": {"tokens": 5}, "output_data": None}
    )
    assert patched.status_code == 200
    assert patched.json()["usage_metadata"] == {"tokens": 5}
    assert patched.json()["output_data"] is None
    assert patched.json()["status"] == "success"
    back = api.client.patch(f"/v1/runs/{run['id']}", json={"status": "running"})
    assert back.status_code == 409
    assert "retry" in back.json()["detail"]


def test_finish_now_and_forced_outcome(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 10_000})
    api.machine()
    run = api.run(workflow_id=workflow["id"])
    api.wait(run["id"], {"running"})
    api.server.admin.finish_run(run["id"], outcome="task_failed")
    assert api.wait(run["id"])["status"] == "task_failed"
    state = wait_until(lambda: api.server.admin.run_state(run["id"]))
    assert state["executing"] is False
