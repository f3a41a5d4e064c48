"""Request bodies the emulator must refuse (422 naming the field) without storing or echoing them.

Lone surrogates (``"\\ud800"``) and ``NaN`` / ``Infinity`` parse in Python but are not storable
JSON data; invalid base64 and long values must not come back in the 422; a ``content_type``
with CR/LF/NUL would break every download; a webhook secret that is not base64 would break
every delivery.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from cyberdesk_emulator import EmulatorServer

from .conftest import Api


def _post_raw(api: Api, path: str, body: str, method: str = "POST") -> httpx.Response:
    """Send ``body`` as written (httpx's ``json=`` would refuse or re-escape surrogates)."""
    return api.client.request(
        method, path, content=body.encode("ascii"), headers={"Content-Type": "application/json"}
    )


def _locs(response: httpx.Response) -> list[list[Any]]:
    return [err["loc"] for err in response.json()["detail"]]


@pytest.mark.parametrize(
    ("fragment", "loc", "kind"),
    [
        ('"input_values": {"a": "\\ud800"}', ["body", "input_values", "a"], "string_unicode"),
        (
            '"input_values": {"a": ["x", "\\udc80"]}',
            ["body", "input_values", "a", 1],
            "string_unicode",
        ),
        ('"input_values": {"\\ud800": 1}', ["body", "input_values", "\\ud800"], "string_unicode"),
        ('"session_alias": "x\\udfff"', ["body", "session_alias"], "string_unicode"),
        ('"input_values": {"total": NaN}', ["body", "input_values", "total"], "finite_number"),
        ('"input_values": {"t": Infinity}', ["body", "input_values", "t"], "finite_number"),
        ('"input_values": {"t": [-Infinity]}', ["body", "input_values", "t", 0], "finite_number"),
        ('"input_values": {"t": 1e400}', ["body", "input_values", "t"], "finite_number"),
    ],
)
def test_unstorable_run_input_is_422_and_nothing_is_stored(
    api: Api, fragment: str, loc: list[Any], kind: str
) -> None:
    workflow = api.workflow()
    response = _post_raw(api, "/v1/runs", f'{{"workflow_id": "{workflow["id"]}", {fragment}}}')
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == loc
    assert error["type"] == kind
    assert "surrogate" in error["msg"] or "finite" in error["msg"]
    listed = api.client.get("/v1/runs")
    assert listed.status_code == 200
    assert listed.json()["total"] == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/workflows", '{"main_prompt": "p", "name": "\\udc80"}'),
        ("/v1/machines", '{"fingerprint": "f", "unkey_key_id": "k", "name": "\\udc80"}'),
        ("/v1/pools", '{"name": "\\ud800"}'),
    ],
)
def test_unstorable_names_are_422_and_lists_keep_working(api: Api, path: str, body: str) -> None:
    response = _post_raw(api, path, body)
    assert response.status_code == 422
    assert _locs(response) == [["body", "name"]]
    listed = api.client.get(path)
    assert listed.status_code == 200
    assert listed.json()["total"] == 0


def test_updates_are_checked_too(api: Api) -> None:
    workflow = api.workflow()
    patched = _post_raw(api, f"/v1/workflows/{workflow['id']}", '{"name": "\\ud800"}', "PATCH")
    assert patched.status_code == 422
    assert api.client.get(f"/v1/workflows/{workflow['id']}").json()["name"] == workflow["name"]
    run = api.run(workflow_id=workflow["id"])
    bad = _post_raw(api, f"/v1/runs/{run['id']}", '{"output_data": {"x": NaN}}', "PATCH")
    assert bad.status_code == 422
    assert _locs(bad) == [["body", "output_data", "x"]]


def test_valid_unicode_and_numbers_are_unchanged(api: Api) -> None:
    workflow = api.workflow()
    body = (
        f'{{"workflow_id": "{workflow["id"]}", "input_values": {{"emoji": "\\ud83d\\ude00", '
        '"big": 1e300, "n": -0.5, "huge": 123456789012345678901234567890}}'
    )
    response = _post_raw(api, "/v1/runs", body)
    assert response.status_code == 201, response.text
    values = response.json()["input_values"]
    assert values == {
        "emoji": "😀",
        "big": 1e300,
        "n": -0.5,
        "huge": 123456789012345678901234567890,
    }
    assert api.client.get("/v1/runs").json()["items"][0]["input_values"] == values


def test_stored_unencodable_text_never_makes_a_list_500(api: Api) -> None:
    """White-box: data stored before the check (or by the server itself) still serialises."""
    workflow = api.workflow()
    run = api.run(workflow_id=workflow["id"], input_values={"a": "ok"})
    api.server.emulator.store.runs[run["id"]].input_values = {"a": "\ud800", "b": 2**70}
    for path in ("/v1/runs", f"/v1/runs/{run['id']}"):
        response = api.client.get(path)
        assert response.status_code == 200, path
        assert "\\ud800" in response.text


def test_invalid_base64_is_named_and_not_echoed(api: Api) -> None:
    workflow = api.workflow()
    canary = "CANARY" + uuid.uuid4().hex
    content = "!!" + canary * 2000
    for path, body in (
        (
            "/v1/runs",
            {
                "workflow_id": workflow["id"],
                "file_inputs": [{"filename": "a.csv", "content": content}],
            },
        ),
        (
            "/v1/run-attachments",
            {
                "run_id": api.run(workflow_id=workflow["id"])["id"],
                "filename": "a.csv",
                "content": content,
                "content_type": "text/csv",
                "attachment_type": "input",
            },
        ),
    ):
        response = api.client.post(path, json=body)
        assert response.status_code == 422, path
        assert canary not in response.text
        assert len(response.content) < 1000
        [error] = response.json()["detail"]
        assert error["loc"][-1] == "content"
        assert "base64" in error["msg"]


def test_long_or_secret_values_are_not_echoed(api: Api) -> None:
    long_value = "W" * 5000
    response = api.client.post("/v1/runs", json={"workflow_id": long_value})
    assert response.status_code == 422
    assert long_value[:200] not in response.text
    assert _locs(response) == [["body", "workflow_id"]]
    canary = "hunter2-" + uuid.uuid4().hex
    secret = api.client.post(
        "/v1/runs", json={"workflow_id": "nope", "sensitive_input_values": {"pw": canary}}
    )
    assert secret.status_code == 422
    assert canary not in secret.text
    short = api.client.post("/v1/runs", json={"workflow_id": "nope"})
    assert short.json()["detail"][0]["input"] == "nope"  # short ordinary values still help


def test_sensitive_values_never_reach_responses_or_the_log(
    cyberdesk_emulator_factory: Any, tmp_path: Path
) -> None:
    log = tmp_path / "requests.log"
    server: EmulatorServer = cyberdesk_emulator_factory(log_path=log)
    headers = {"Authorization": f"Bearer {server.api_key}"}
    canary = "pw-" + uuid.uuid4().hex
    with httpx.Client(base_url=server.url, headers=headers) as client:
        workflow = client.post("/v1/workflows", json={"main_prompt": "p"}).json()
        texts = []
        for body in (
            {"workflow_id": workflow["id"], "sensitive_input_values": {"pw": canary}},
            {
                "workflow_id": workflow["id"],
                "sensitive_input_values": {"pw": canary},
                "input_values": {"x": float("nan")},
            },
            {"workflow_id": "bad", "sensitive_input_values": {"pw": [canary, {"deep": canary}]}},
        ):
            raw = json.dumps(body).encode()  # json.dumps writes NaN, as a careless client would
            texts.append(
                client.post(
                    "/v1/runs", content=raw, headers={"Content-Type": "application/json"}
                ).text
            )
        texts.append(client.get("/v1/runs").text)
    assert all(canary not in text for text in texts)
    assert canary not in log.read_text()


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain\r\nX-Evil: 1",
        "text/plain\n",
        "text/plain\x00",
        "text/html\rx",
        "csv",
        "",
        "text/ plain",
        "text/plain; charset=\x7f",
        "täxt/plain",
    ],
)
def test_content_type_must_be_a_printable_media_type(api: Api, content_type: str) -> None:
    run = api.run(workflow_id=api.workflow()["id"])
    response = api.client.post(
        "/v1/run-attachments",
        json={
            "run_id": run["id"],
            "filename": "a.txt",
            "content": base64.b64encode(b"x").decode(),
            "content_type": content_type,
            "attachment_type": "output",
        },
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "content_type"]
    assert "media type" in error["msg"]
    assert api.client.get("/v1/run-attachments").json()["total"] == 0


@pytest.mark.parametrize(
    "content_type", ["text/csv", "text/csv; charset=utf-8", 'application/x-thing; name="a b;c"']
)
def test_ordinary_content_types_are_accepted(api: Api, content_type: str) -> None:
    run = api.run(workflow_id=api.workflow()["id"])
    response = api.client.post(
        "/v1/run-attachments",
        json={
            "run_id": run["id"],
            "filename": "a.txt",
            "content": base64.b64encode(b"x").decode(),
            "content_type": content_type,
            "attachment_type": "output",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == content_type
    download = api.client.get(f"/v1/run-attachments/{response.json()['id']}/download")
    assert download.status_code == 200
    assert download.content == b"x"


def test_admin_upload_checks_content_type(api: Api) -> None:
    run = api.run(workflow_id=api.workflow()["id"])
    with pytest.raises(httpx.HTTPStatusError) as caught:
        api.server.admin.add_attachment(
            run["id"], b"x", filename="a.txt", content_type="text/plain\r\nSet-Cookie: a=b"
        )
    assert caught.value.response.status_code == 422
    assert caught.value.response.json()["detail"][0]["loc"] == ["query", "content_type"]
    assert api.client.get("/v1/run-attachments").json()["total"] == 0


@pytest.mark.parametrize(
    ("hook", "field"),
    [
        ({"url": "http://127.0.0.1:9/h", "secret": "whsec_not base64!!"}, "secret"),
        ({"url": "http://127.0.0.1:9/h", "secret": "whsec_"}, "secret"),
        ({"url": "http://127.0.0.1:9/h", "secret": "plain-password"}, "secret"),
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://127.0.0.1/h"}, "url"),
    ],
)
def test_unusable_webhook_endpoints_are_refused_where_set(
    server: EmulatorServer, hook: dict[str, str], field: str
) -> None:
    org = f"org_{uuid.uuid4().hex[:10]}"
    document = {"organizations": [{"id": org, "api_keys": [f"cd_{org}"], "webhooks": [hook]}]}
    with pytest.raises(httpx.HTTPStatusError) as caught:
        server.admin.seed(document)
    response = caught.value.response
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert f"organizations.0.webhooks.0.{field}" in detail
    if len(hook.get("secret", "")) > len("whsec_"):
        assert hook["secret"] not in detail
    assert org not in server.emulator.store.orgs
    with pytest.raises(ValueError, match=f"webhooks.0.{field}"):
        EmulatorServer(seed={"webhooks": [hook]})


def test_seed_documents_are_checked_for_unstorable_values(server: EmulatorServer) -> None:
    for document, where in (
        ({"workflows": [{"name": "\ud800"}]}, "workflows.0.name"),
        ({"machines": [{"machine_parameters": {"x": float("inf")}}]}, "machine_parameters.x"),
    ):
        with pytest.raises(ValueError, match=where):
            EmulatorServer(seed=document)
