"""Organization scoping of attachments and sessions (findings of an attacker's probe).

Organization B must not reach organization A's attachments through its own runs (listing
A's metadata, deleting A's files by deleting or retrying a run) nor take over A's session
through a machine's ``reserved_session_id``.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from .conftest import Api


def _attachment(api: Api, run_id: str, data: bytes = b"secret ledger") -> dict[str, Any]:
    response = api.client.post(
        "/v1/run-attachments",
        json={
            "run_id": run_id,
            "filename": "ledger.csv",
            "content": base64.b64encode(data).decode(),
            "content_type": "text/csv",
            "attachment_type": "output",
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _finished_run(api: Api) -> dict[str, Any]:
    workflow = api.workflow(behavior={"duration": 0})
    api.machine()
    return api.wait(api.run(workflow_id=workflow["id"])["id"])


def test_patch_with_a_foreign_attachment_id_is_refused(api: Api, other_api: Api) -> None:
    victim = _attachment(api, _finished_run(api)["id"])
    mine = _finished_run(other_api)
    response = other_api.client.patch(
        f"/v1/runs/{mine['id']}", json={"output_attachment_ids": [victim["id"]]}
    )
    assert response.status_code == 404, response.text
    detail = response.json()["detail"]
    assert "output_attachment_ids[0]" in detail
    assert victim["id"] in detail
    # Nothing changed: the run does not reference it, the list does not show it.
    assert other_api.get_run(mine["id"])["output_attachment_ids"] == []
    listed = other_api.client.get("/v1/run-attachments", params={"run_id": mine["id"]}).json()
    assert listed["total"] == 0


def test_patch_with_an_unknown_attachment_id_is_refused(api: Api) -> None:
    run = _finished_run(api)
    unknown = str(uuid.uuid4())
    response = api.client.patch(
        f"/v1/runs/{run['id']}",
        json={"status": "cancelled", "output_attachment_ids": ["not-an-id", unknown]},
    )
    assert response.status_code == 404
    assert "output_attachment_ids[0]" in response.json()["detail"]
    assert api.get_run(run["id"])["status"] == "success"  # refused as a whole


def test_patch_with_own_attachment_ids_still_works(api: Api) -> None:
    run = _finished_run(api)
    other = _finished_run(api)
    att = _attachment(api, other["id"])
    response = api.client.patch(
        f"/v1/runs/{run['id']}", json={"output_attachment_ids": [att["id"]]}
    )
    assert response.status_code == 200
    assert response.json()["output_attachment_ids"] == [att["id"]]
    assert api.client.patch(f"/v1/runs/{run['id']}", json={"output_attachment_ids": []}).is_success


def _smuggle(api: Api, run_id: str, att_id: str) -> None:
    """White-box: a run whose id list already names a foreign attachment (state from before)."""
    api.server.emulator.store.runs[run_id].output_attachment_ids.append(att_id)


def test_list_by_run_shows_only_the_organizations_attachments(api: Api, other_api: Api) -> None:
    victim = _attachment(api, _finished_run(api)["id"])
    mine = _finished_run(other_api)
    _smuggle(other_api, mine["id"], victim["id"])
    listed = other_api.client.get("/v1/run-attachments", params={"run_id": mine["id"]}).json()
    assert listed["items"] == []
    assert listed["total"] == 0
    assert victim["id"] not in str(other_api.client.get("/v1/run-attachments").json())


def test_deleting_or_retrying_a_run_never_deletes_a_foreign_file(api: Api, other_api: Api) -> None:
    victim_run = _finished_run(api)
    victims = [_attachment(api, victim_run["id"], b"a1"), _attachment(api, victim_run["id"])]
    retried, deleted = _finished_run(other_api), _finished_run(other_api)
    _smuggle(other_api, retried["id"], victims[0]["id"])
    _smuggle(other_api, deleted["id"], victims[1]["id"])
    assert other_api.client.post(f"/v1/runs/{retried['id']}/retry").status_code == 200
    assert other_api.client.delete(f"/v1/runs/{deleted['id']}").status_code == 204
    for victim, data in zip(victims, (b"a1", b"secret ledger"), strict=True):
        download = api.client.get(f"/v1/run-attachments/{victim['id']}/download")
        assert download.status_code == 200
        assert download.content == data


def test_another_organizations_attachment_is_404_on_every_route(api: Api, other_api: Api) -> None:
    victim = _attachment(api, _finished_run(api)["id"])
    base = f"/v1/run-attachments/{victim['id']}"
    for method, path in (
        ("GET", base),
        ("GET", base + "/download"),
        ("GET", base + "/download-url"),
        ("PUT", base),
        ("DELETE", base),
    ):
        body = {"expires_at": None} if method == "PUT" else None
        response = other_api.client.request(method, path, json=body)
        assert response.status_code == 404, (method, path)
    assert api.client.get(base + "/download").content == b"secret ledger"


def test_a_machine_cannot_reserve_another_organizations_session(api: Api, other_api: Api) -> None:
    slow = api.workflow(behavior={"duration": 10_000})
    victim_machine = api.machine()
    run = api.run(workflow_id=slow["id"], start_session=True)
    api.wait(run["id"], {"running"})
    session = run["session_id"]
    thief = other_api.machine()
    response = other_api.client.patch(
        f"/v1/machines/{thief['id']}", json={"reserved_session_id": session}
    )
    assert response.status_code == 404
    assert "reserved_session_id" in response.json()["detail"]
    assert other_api.client.get(f"/v1/machines/{thief['id']}").json()["reserved_session_id"] is None
    victim = api.client.get(f"/v1/machines/{victim_machine['id']}").json()
    assert victim["reserved_session_id"] == session
    joined = other_api.client.post(
        "/v1/runs", json={"workflow_id": other_api.workflow()["id"], "session_id": session}
    )
    assert joined.status_code == 404
    # A fresh session id of its own is still fine.
    own = str(uuid.uuid4())
    ok = other_api.client.patch(f"/v1/machines/{thief['id']}", json={"reserved_session_id": own})
    assert ok.status_code == 200
    assert ok.json()["reserved_session_id"] == own
    api.client.patch(f"/v1/runs/{run['id']}", json={"status": "cancelled"})
