"""Request-body limit, safe file downloads and the CLI's exposure warning.

Raw sockets where httpx would not send what an attacker sends (a false ``Content-Length``, an
endless chunked body).
"""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from cyberdesk_emulator import EmulatorServer, cli

from .conftest import Api

Factory = Callable[..., EmulatorServer]
#: The documented default limit (64 MiB).
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024


def _head(server: EmulatorServer, extra: str) -> bytes:
    return (
        "POST /v1/runs HTTP/1.1\r\nHost: emulator\r\n"
        f"Authorization: Bearer {server.api_key}\r\nContent-Type: application/json\r\n"
        f"{extra}\r\n"
    ).encode()


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def test_declared_oversized_body_is_413_before_reading_it(server: EmulatorServer) -> None:
    """300 MB announced, nothing sent: the answer comes at once (the old server waited)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(_head(server, "Content-Length: 300000000\r\n"))
        answer = _read_response(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"connection: close" in head.lower()
    assert b"too large" in body
    assert str(DEFAULT_MAX_BODY_BYTES).encode() in body


def test_chunked_body_is_counted_while_it_arrives(cyberdesk_emulator_factory: Factory) -> None:
    server = cyberdesk_emulator_factory(max_body_bytes="4KiB")
    piece = b"x" * 1024
    chunked = b"".join(b"%x\r\n" % len(piece) + piece + b"\r\n" for _ in range(8)) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(_head(server, "Transfer-Encoding: chunked\r\n") + chunked)
        answer = _read_response(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"4096 bytes" in answer
    assert server.admin.stats()["runs_created"] == 0


def test_an_endless_chunked_body_is_cut_off(cyberdesk_emulator_factory: Factory) -> None:
    """The server stops reading (and closes) soon after the limit, not after 100 MiB."""
    server = cyberdesk_emulator_factory(max_body_bytes=1024 * 1024)
    piece = b"y" * 65536
    frame = b"%x\r\n" % len(piece) + piece + b"\r\n"
    total, sent = 100 * 1024 * 1024, 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_head(server, "Transfer-Encoding: chunked\r\n"))
        try:
            while sent < total:
                sock.sendall(frame)
                sent += len(piece)
        except OSError:
            pass
    assert sent < 32 * 1024 * 1024, sent
    assert server.admin.stats()["status_by_route"]["POST /v1/runs"] == {"413": 1}


def test_bodies_up_to_the_limit_work_and_above_it_are_413(
    cyberdesk_emulator_factory: Factory,
) -> None:
    server = cyberdesk_emulator_factory(max_body_bytes=2048)
    headers = {"Authorization": f"Bearer {server.api_key}"}
    with httpx.Client(base_url=server.url, headers=headers) as client:
        workflow = client.post("/v1/workflows", json={"main_prompt": "p"}).json()
        small = client.post("/v1/runs", json={"workflow_id": workflow["id"]})
        assert small.status_code == 201
        big = client.post(
            "/v1/runs", json={"workflow_id": workflow["id"], "input_values": {"x": "z" * 4096}}
        )
        assert big.status_code == 413
        assert "2048 bytes" in big.json()["detail"]
        assert client.get("/v1/runs").json()["total"] == 1
        # The admin upload route streams to disk and is meant for big files: exempt.
        run_id = small.json()["id"]
        att = server.admin.add_attachment(run_id, b"b" * 100_000, filename="big.bin")
        assert att["size_bytes"] == 100_000


def test_bulk_and_chain_cannot_multiply_a_body_past_the_limit(
    cyberdesk_emulator_factory: Factory,
) -> None:
    """One small body must not store (and make every list serialise) 1,000 copies of itself."""
    server = cyberdesk_emulator_factory(max_body_bytes="64KiB")
    inputs = {"blob": "z" * 4000}
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.api_key}"}
    ) as c:
        workflow = c.post("/v1/workflows", json={"main_prompt": "{blob}"}).json()["id"]
        bulk = {"workflow_id": workflow, "input_values": inputs}
        too_many = c.post("/v1/runs/bulk", json={**bulk, "count": 50})
        assert too_many.status_code == 413
        assert "bulk of 50 runs" in too_many.json()["detail"]
        assert "max_body_bytes" in too_many.json()["detail"]
        assert c.post("/v1/runs/bulk", json={**bulk, "count": 10}).status_code == 201
        steps = [{"workflow_id": workflow}]
        long_chain = c.post("/v1/runs/chain", json={"steps": steps * 50, "shared_inputs": inputs})
        assert long_chain.status_code == 413
        assert "chain of 50 steps" in long_chain.json()["detail"]
        chain = c.post("/v1/runs/chain", json={"steps": steps * 5, "shared_inputs": inputs})
        assert chain.status_code == 201
        assert c.get("/v1/runs").json()["total"] == 15


def test_the_limit_is_configurable_everywhere(tmp_path: Path) -> None:
    from cyberdesk_emulator.limits import parse_size

    assert parse_size("64MiB") == DEFAULT_MAX_BODY_BYTES == parse_size(64 * 1024 * 1024)
    assert parse_size("500 kB") == 500_000
    for bad in ("lots", "0", "-1", "1.5MiB", "12 parsecs"):
        with pytest.raises(ValueError, match="size"):
            parse_size(bad)
    assert EmulatorServer().emulator.settings.max_body_bytes == DEFAULT_MAX_BODY_BYTES
    from_seed = EmulatorServer(seed={"settings": {"max_body_bytes": "1MiB"}})
    assert from_seed.emulator.settings.max_body_bytes == 1024 * 1024
    argument = EmulatorServer(seed={"settings": {"max_body_bytes": 5}}, max_body_bytes=7)
    assert argument.emulator.settings.max_body_bytes == 7
    args = cli.build_parser().parse_args(["serve", "--max-body-bytes", "16MiB"])
    assert args.max_body_bytes == 16 * 1024 * 1024
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", "--max-body-bytes", "huge"])


def _upload(api: Api, filename: str, content_type: str, data: bytes) -> str:
    run = api.run(workflow_id=api.workflow()["id"])
    response = api.client.post(
        "/v1/run-attachments",
        json={
            "run_id": run["id"],
            "filename": filename,
            "content": base64.b64encode(data).decode(),
            "content_type": content_type,
            "attachment_type": "output",
        },
    )
    assert response.status_code == 201, response.text
    att_id: str = response.json()["id"]
    return att_id


def _both_downloads(api: Api, att_id: str) -> list[httpx.Response]:
    keyed = api.client.get(f"/v1/run-attachments/{att_id}/download")
    url = api.client.get(f"/v1/run-attachments/{att_id}/download-url").json()["url"]
    return [keyed, httpx.get(url)]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html",
        "text/html; charset=utf-8",
        "image/svg+xml",
        "application/xhtml+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/pdf",
        "multipart/x-mixed-replace; boundary=x",
    ],
)
def test_active_content_is_served_as_an_inert_download(api: Api, content_type: str) -> None:
    page = b"<html><script>alert(document.domain)</script></html>"
    att_id = _upload(api, "report.html", content_type, page)
    for response in _both_downloads(api, att_id):
        assert response.status_code == 200
        assert response.content == page
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-disposition"] == "attachment; filename*=UTF-8''report.html"
        assert "sandbox" in response.headers["content-security-policy"]
    # The metadata keeps what was stored.
    meta = api.client.get(f"/v1/run-attachments/{att_id}").json()
    assert meta["content_type"] == content_type


def test_guessed_html_input_files_and_behaviour_files_are_inert_too(api: Api) -> None:
    workflow = api.workflow(
        behavior={"duration": 0, "files": [{"name": "x.svg", "content": "<svg/>"}]}
    )
    api.machine()
    run = api.run(
        workflow_id=workflow["id"],
        file_inputs=[{"filename": "page.html", "content": base64.b64encode(b"<h1>").decode()}],
    )
    done = api.wait(run["id"])
    for att_id in [*done["input_attachment_ids"], *done["output_attachment_ids"]]:
        for response in _both_downloads(api, att_id):
            assert response.headers["content-type"] == "application/octet-stream"
            assert response.headers["x-content-type-options"] == "nosniff"


def test_inert_types_keep_their_type_and_names_are_encoded(api: Api) -> None:
    att_id = _upload(api, 'q"uote;\r\nx-evil: 1 é.csv', "text/csv", b"a,b\n")
    for response in _both_downloads(api, att_id):
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-disposition"] == (
            "attachment; filename*=UTF-8''q%22uote%3B%0D%0Ax-evil%3A%201%20%C3%A9.csv"
        )
        assert "x-evil" not in response.headers
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    for response in _both_downloads(api, _upload(api, "t.xlsx", xlsx, b"PK")):
        assert response.headers["content-type"] == xlsx


def _serve_without_serving(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """``cli.main`` up to ``uvicorn.run`` (recorded, not run); its console handler is removed."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    logger = logging.getLogger("cyberdesk_emulator")
    monkeypatch.setattr(logger, "handlers", list(logger.handlers))
    return calls


@pytest.mark.parametrize(
    ("argv", "warned"),
    [
        (["--host", "0.0.0.0"], True),
        (["--host", "::"], True),
        (["--host", "192.168.1.20", "--api-key", "cd_mine"], True),  # admin token still default
        (["--host", "0.0.0.0", "--api-key", "cd_mine", "--admin-token", "t0ken"], False),
        (["--host", "127.0.0.1"], False),
        (["--host", "localhost"], False),
        (["--host", "::1"], False),
        ([], False),
    ],
)
def test_cli_warns_when_exposed_with_default_credentials(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    warned: bool,
) -> None:
    calls = _serve_without_serving(monkeypatch)
    assert cli.main(["serve", "--port", "0", *argv]) == 0
    assert len(calls) == 1
    err = capsys.readouterr().err
    assert ("WARNING" in err) is warned, err
    if warned:
        assert "not a loopback address" in err
        assert "--admin-token" in err or "--api-key" in err


def test_cli_reports_a_bad_seed_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    calls = _serve_without_serving(monkeypatch)
    seed = tmp_path / "seed.yaml"
    seed.write_text("webhooks:\n  - url: http://127.0.0.1:9/h\n    secret: whsec_%%%sup3rsecret\n")
    assert cli.main(["serve", "--seed", str(seed)]) == 2
    err = capsys.readouterr().err
    assert "webhooks.0.secret" in err
    assert "sup3rsecret" not in err
    assert calls == []
