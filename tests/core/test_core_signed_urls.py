"""Signed attachment URLs (`cyberdesk_core.signed_urls`) against the emulator over loopback."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cyberdesk_core import (
    AsyncCyberdeskClient,
    AttachmentNotFoundError,
    ConfigurationError,
    CyberdeskClient,
    asign_run_attachments,
    sign_attachment,
    sign_run_attachments,
)
from cyberdesk_core.waiting import wait_for_run

pytest.importorskip("cyberdesk_emulator")

WORKFLOW = "00000000-0000-4000-8000-0000000000b1"
SEED = {
    "workflows": [
        {
            "id": WORKFLOW,
            "name": "ledger export",
            "behavior": {
                "duration": 0,
                "files": [
                    {"name": "ledger.csv", "content": "a,b\n1,2\n"},
                    {"name": "summary.pdf", "content": "%PDF-1.7"},
                ],
            },
        }
    ],
    "machines": [{"name": "desk-1"}],
}


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from cyberdesk_emulator import EmulatorServer
    from cyberdesk_emulator.pytest_plugin import FAST_TIME_SCALE

    with EmulatorServer(seed=SEED, time_scale=FAST_TIME_SCALE) as emu:
        yield emu


@pytest.fixture(scope="module")
def run_id(server: Any) -> str:
    """A finished run with one input file and two output files."""
    with CyberdeskClient(server.api_key, base_url=server.url) as client:
        content = base64.b64encode(b"orders").decode()
        run = client.runs.create(
            WORKFLOW, file_inputs=[{"filename": "orders.txt", "content": content}]
        )
        wait_for_run(client, run.id, poll_interval=0.05, timeout=30)
    return run.id


def _requests(server: Any) -> int:
    return sum(server.admin.stats()["requests_by_route"].values())


def test_one_attachment_url_downloads_without_the_api_key(server: Any, run_id: str) -> None:
    with CyberdeskClient(server.api_key, base_url=server.url) as client:
        attachment = client.run_attachments.list(run_id=run_id, attachment_type="output").items[0]
        signed = sign_attachment(client, attachment.id, expires_in=60)
    assert (signed.attachment_id, signed.filename) == (attachment.id, attachment.filename)
    assert signed.attachment_type == "output"
    assert signed.expires_in == 60
    assert signed.expires_at is not None
    assert signed.url not in repr(signed)  # a bearer link stays out of logged reprs
    fetched = httpx.get(signed.url)  # no Authorization header
    assert fetched.status_code == 200
    assert fetched.content in (b"a,b\n1,2\n", b"%PDF-1.7")


def test_run_selection_by_type_and_name(server: Any, run_id: str) -> None:
    with CyberdeskClient(server.api_key, base_url=server.url) as client:
        everything = sign_run_attachments(client, run_id)
        outputs = sign_run_attachments(client, run_id, attachment_type="output")
        csv = sign_run_attachments(client, run_id, filename="*.csv", expires_in=10)
    assert sorted(s.filename for s in everything) == ["ledger.csv", "orders.txt", "summary.pdf"]
    assert sorted(s.filename for s in outputs) == ["ledger.csv", "summary.pdf"]
    assert [(s.filename, s.expires_in) for s in csv] == [("ledger.csv", 10)]
    assert httpx.get(csv[0].url).content == b"a,b\n1,2\n"


async def test_async_form_and_no_match(server: Any, run_id: str) -> None:
    async with AsyncCyberdeskClient(server.api_key, base_url=server.url) as client:
        inputs = await asign_run_attachments(client, run_id, attachment_type="input")
        assert [s.filename for s in inputs] == ["orders.txt"]
        with pytest.raises(AttachmentNotFoundError, match=r"ledger.csv, summary.pdf"):
            await asign_run_attachments(
                client, run_id, filename="missing.csv", attachment_type="output"
            )


@pytest.mark.parametrize("expires_in", [9, 3601, 0, True, 60.5, "300"])
def test_bad_expiry_sends_nothing(server: Any, run_id: str, expires_in: Any) -> None:
    with CyberdeskClient(server.api_key, base_url=server.url) as client:
        server.admin.reset_stats()
        with pytest.raises(ConfigurationError, match=r"expires_in must be .* between 10 and 3600"):
            sign_attachment(client, "00000000-0000-4000-8000-000000000001", expires_in=expires_in)
        with pytest.raises(ConfigurationError, match="expires_in"):
            sign_run_attachments(client, run_id, expires_in=expires_in)
    assert _requests(server) == 0


def test_bad_selection_sends_nothing(server: Any, run_id: str) -> None:
    from cyberdesk_core.signed_urls import check_selection

    with pytest.raises(ConfigurationError, match="attachment_id or run_id"):
        check_selection(None, None)
    with pytest.raises(ConfigurationError, match="attachment_id or run_id"):
        check_selection("a", "b")
    with pytest.raises(ConfigurationError, match="run_id is empty"):
        check_selection(None, " ")
    with pytest.raises(ConfigurationError, match="with run_id"):
        check_selection("a", None, filename="x.csv")
    with CyberdeskClient(server.api_key, base_url=server.url) as client:
        server.admin.reset_stats()
        with pytest.raises(ConfigurationError, match="attachment_type"):
            sign_run_attachments(client, run_id, attachment_type="outputs")
    assert _requests(server) == 0
