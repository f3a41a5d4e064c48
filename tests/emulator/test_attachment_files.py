"""Attachment content in files: streamed downloads, cascade deletes, the admin upload route.

Content above ``INLINE_LIMIT`` lives in a file of the emulator's temporary directory; smaller
content stays in memory. Where a file lives is read white-box from ``server.emulator``.
"""

from __future__ import annotations

import base64
import io
import os
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from cyberdesk_emulator import EmulatorServer
from cyberdesk_emulator.blobs import CHUNK_SIZE, INLINE_LIMIT

from .conftest import Api, wait_until

BIG = INLINE_LIMIT + 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _path(server: EmulatorServer, att_id: str) -> Path | None:
    """File behind an attachment (None: kept in memory)."""
    return server.emulator.store.attachments[att_id].blob.path


def _file_input(name: str, data: bytes) -> dict[str, Any]:
    return {"filename": name, "content": _b64(data)}


def test_large_input_file_lives_in_a_file_and_downloads_streamed(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0})
    data = os.urandom(3 * CHUNK_SIZE + 123)
    run = api.run(
        workflow_id=workflow["id"],
        file_inputs=[_file_input("ledger.csv", data), _file_input("small.txt", b"tiny")],
    )
    big_id, small_id = run["input_attachment_ids"]
    path = _path(api.server, big_id)
    assert path is not None
    assert path.read_bytes() == data
    assert path.parent == api.server.emulator.blobs.directory
    assert _path(api.server, small_id) is None
    assert api.client.get(f"/v1/run-attachments/{big_id}").json()["size_bytes"] == len(data)
    with api.client.stream("GET", f"/v1/run-attachments/{big_id}/download") as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(data))
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["content-disposition"] == "attachment; filename*=UTF-8''ledger.csv"
        assert b"".join(response.iter_bytes()) == data
    small = api.client.get(f"/v1/run-attachments/{small_id}/download")
    assert (small.content, small.headers["content-length"]) == (b"tiny", "4")
    # No Range support: a range request still gets the whole file.
    ranged = api.client.get(
        f"/v1/run-attachments/{big_id}/download", headers={"Range": "bytes=0-9"}
    )
    assert (ranged.status_code, len(ranged.content)) == (200, len(data))
    signed = api.client.get(f"/v1/run-attachments/{big_id}/download-url").json()
    fetched = httpx.get(signed["url"])
    assert fetched.content == data
    assert fetched.headers["content-length"] == str(len(data))


def test_deleting_an_attachment_mid_download_does_not_cut_it_short(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0})
    data = os.urandom(8 * CHUNK_SIZE)
    run = api.run(workflow_id=workflow["id"], file_inputs=[_file_input("big.bin", data)])
    [att_id] = run["input_attachment_ids"]
    path = _path(api.server, att_id)
    assert path is not None
    with api.client.stream("GET", f"/v1/run-attachments/{att_id}/download") as response:
        chunks = response.iter_bytes()
        first = next(chunks)
        assert api.client.delete(f"/v1/run-attachments/{att_id}").status_code == 204
        assert not path.exists()
        assert first + b"".join(chunks) == data
    assert api.client.get(f"/v1/run-attachments/{att_id}/download").status_code == 404


def test_large_uploads_and_behaviour_files_are_files_with_the_same_answers(api: Api) -> None:
    content = "x" * BIG
    workflow = api.workflow(
        behavior={"duration": 0, "files": [{"name": "out.txt", "content": content}]}
    )
    api.machine()
    run = api.run(workflow_id=workflow["id"])
    [out_id] = api.wait(run["id"])["output_attachment_ids"]
    assert _path(api.server, out_id) is not None
    assert api.client.get(f"/v1/run-attachments/{out_id}/download").text == content
    created = api.client.post(
        "/v1/run-attachments",
        json={
            "run_id": run["id"],
            "filename": "report.pdf",
            "content": _b64(b"%" * BIG),
            "content_type": "application/pdf",
            "attachment_type": "output",
        },
    ).json()
    assert created["size_bytes"] == BIG
    assert created["storage_path"].endswith(f"/{run['id']}/{created['id']}")
    assert _path(api.server, created["id"]) is not None
    assert api.get_run(run["id"])["output_attachment_ids"] == [out_id, created["id"]]


def test_cascade_deletes_remove_the_files(api: Api) -> None:
    workflow = api.workflow(
        behavior={"duration": 0, "files": [{"name": "out.bin", "content": "o" * BIG}]}
    )
    api.machine()
    run = api.run(workflow_id=workflow["id"], file_inputs=[_file_input("in.bin", b"i" * BIG)])
    done = api.wait(run["id"])
    [in_id], [out_id] = done["input_attachment_ids"], done["output_attachment_ids"]
    in_path, out_path = _path(api.server, in_id), _path(api.server, out_id)
    assert in_path is not None
    assert out_path is not None
    # Retry without file_inputs: outputs go, inputs stay.
    api.client.post(f"/v1/runs/{run['id']}/retry", json={})
    assert not out_path.exists()
    assert in_path.exists()
    done = api.wait(run["id"])
    # Retry with file_inputs: inputs are replaced.
    api.client.post(
        f"/v1/runs/{run['id']}/retry", json={"file_inputs": [_file_input("new.bin", b"n" * BIG)]}
    )
    assert not in_path.exists()
    done = api.wait(run["id"])
    paths = [_path(api.server, i) for i in done["input_attachment_ids"]]
    paths += [_path(api.server, i) for i in done["output_attachment_ids"]]
    assert len(paths) == 2
    assert all(p is not None and p.exists() for p in paths)
    assert api.client.delete(f"/v1/runs/{run['id']}").status_code == 204
    assert not any(p is not None and p.exists() for p in paths)
    # Workflow delete removes its runs and their files.
    other = api.run(workflow_id=workflow["id"], file_inputs=[_file_input("w.bin", b"w" * BIG)])
    other_path = _path(api.server, other["input_attachment_ids"][0])
    assert other_path is not None
    assert other_path.exists()
    assert api.client.delete(f"/v1/workflows/{workflow['id']}").status_code == 204
    assert not other_path.exists()


def test_bulk_runs_share_one_file_until_the_last_run_goes(api: Api) -> None:
    workflow = api.workflow(behavior={"duration": 0})
    data = os.urandom(BIG)
    body = {"workflow_id": workflow["id"], "count": 3, "file_inputs": [_file_input("s.bin", data)]}
    runs = api.client.post("/v1/runs/bulk", json=body).json()["created_runs"]
    ids = [r["input_attachment_ids"][0] for r in runs]
    assert len(set(ids)) == 3
    [path] = {_path(api.server, i) for i in ids}
    assert path is not None
    for run in runs[:2]:
        api.client.delete(f"/v1/runs/{run['id']}")
        assert path.exists()
    assert api.client.get(f"/v1/run-attachments/{ids[2]}/download").content == data
    api.client.delete(f"/v1/runs/{runs[2]['id']}")
    assert not path.exists()


def test_evicted_finished_runs_take_their_files(
    cyberdesk_emulator_factory: Any,
) -> None:
    server: EmulatorServer = cyberdesk_emulator_factory(
        max_finished_runs=1,
        seed={"workflows": [{"name": "w", "behavior": {"duration": 0}}], "machines": [{}]},
    )
    client = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.api_key}"}
    )
    workflow_id = client.get("/v1/workflows").json()["items"][0]["id"]
    first = client.post(
        "/v1/runs",
        json={"workflow_id": workflow_id, "file_inputs": [_file_input("a.bin", b"a" * BIG)]},
    ).json()
    path = _path(server, first["input_attachment_ids"][0])
    assert path is not None
    wait_until(lambda: client.get(f"/v1/runs/{first['id']}").json()["status"] == "success")
    client.post("/v1/runs", json={"workflow_id": workflow_id})
    wait_until(lambda: client.get(f"/v1/runs/{first['id']}").status_code == 404)
    assert not path.exists()
    client.close()


def test_admin_upload_route_streams_files_bytes_and_file_objects(api: Api, tmp_path: Path) -> None:
    workflow = api.workflow(behavior={"duration": 0})
    run = api.run(workflow_id=workflow["id"])
    source = tmp_path / "export.csv"
    data = os.urandom(2 * CHUNK_SIZE + 5)
    source.write_bytes(data)
    admin = api.server.admin
    from_path = admin.add_attachment(run["id"], source)
    assert (from_path["filename"], from_path["content_type"]) == ("export.csv", "text/csv")
    assert (from_path["attachment_type"], from_path["size_bytes"]) == ("output", len(data))
    assert _path(api.server, from_path["id"]) is not None
    from_bytes = admin.add_attachment(
        run["id"], b"hi", filename="in.txt", attachment_type="input", target_path="C:/in"
    )
    assert (from_bytes["target_path"], _path(api.server, from_bytes["id"])) == ("C:/in", None)
    from_file = admin.add_attachment(
        run["id"], io.BytesIO(b"{}"), filename="x.bin", content_type="application/json"
    )
    assert from_file["content_type"] == "application/json"
    got = api.get_run(run["id"])
    assert got["output_attachment_ids"] == [from_path["id"], from_file["id"]]
    assert got["input_attachment_ids"] == [from_bytes["id"]]
    assert api.client.get(f"/v1/run-attachments/{from_path['id']}/download").content == data
    listed = api.client.get("/v1/run-attachments", params={"run_id": run["id"]}).json()
    assert listed["total"] == 3
    with pytest.raises(ValueError, match="filename"):
        admin.add_attachment(run["id"], b"no name")
    with pytest.raises(httpx.HTTPStatusError) as missing:
        admin.add_attachment("00000000-0000-4000-8000-000000000000", b"x", filename="a")
    assert missing.value.response.status_code == 404
    url = f"{api.server.url}/_emulator/runs/{run['id']}/attachments"
    refused = httpx.post(url, params={"filename": "a"}, content=b"x", headers={})
    assert refused.status_code == 401
    keyed = httpx.post(
        url, params={"filename": "a"}, content=b"x", headers={"Authorization": f"Bearer {api.key}"}
    )
    assert keyed.status_code == 401
    assert (
        "/_emulator/runs/{run_id}/attachments"
        not in httpx.get(f"{api.server.url}/openapi.json").text
    )


def test_reset_and_stop_remove_the_directory(tmp_path: Path) -> None:
    server = EmulatorServer(
        time_scale=1000, seed={"workflows": [{"name": "w"}]}, log_path=tmp_path / "log"
    )
    with server:
        client = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.api_key}"}
        )
        workflow_id = client.get("/v1/workflows").json()["items"][0]["id"]
        body = {"workflow_id": workflow_id, "file_inputs": [_file_input("a.bin", b"a" * BIG)]}
        client.post("/v1/runs", json=body)
        first_dir = server.emulator.blobs.directory
        assert first_dir is not None
        assert any(first_dir.iterdir())
        server.admin.reset()
        assert not first_dir.exists()
        # Serving goes on: the next large file gets a fresh directory.
        workflow_id = client.post("/v1/workflows", json={"main_prompt": "p"}).json()["id"]
        run = client.post("/v1/runs", json={**body, "workflow_id": workflow_id}).json()
        att_id = run["input_attachment_ids"][0]
        assert client.get(f"/v1/run-attachments/{att_id}/download").content == b"a" * BIG
        second_dir = server.emulator.blobs.directory
        assert second_dir is not None
        assert second_dir != first_dir
        assert second_dir.exists()
        client.close()
    assert not second_dir.exists()


def test_an_upload_cut_short_leaves_no_file(cyberdesk_emulator_factory: Any) -> None:
    server: EmulatorServer = cyberdesk_emulator_factory(seed={"workflows": [{"name": "w"}]})
    headers = {"Authorization": f"Bearer {server.api_key}"}
    workflow_id = httpx.get(f"{server.url}/v1/workflows", headers=headers).json()["items"][0]["id"]
    run = httpx.post(f"{server.url}/v1/runs", headers=headers, json={"workflow_id": workflow_id})
    head = (
        f"POST /_emulator/runs/{run.json()['id']}/attachments?filename=a.bin HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nX-Emulator-Admin-Token: {server.admin_token}\r\n"
        f"Content-Length: {8 * CHUNK_SIZE}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head.encode() + b"x" * (2 * CHUNK_SIZE))
        directory = wait_until(lambda: server.emulator.blobs.directory)
        wait_until(lambda: any(directory.iterdir()))
    wait_until(lambda: not any(directory.iterdir()))
    assert server.emulator.store.attachments == {}
