"""`get_cyberdesk_attachment_url`: signed URLs fetched without the API key, in a real flow.

Files are attached to a held run through the emulator's admin API; the URLs are fetched over
loopback with no credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prefect import flow
from prefect_seed import WF_SLOW

from cyberdesk_core import ConfigurationError, SignedAttachmentUrl
from cyberdesk_prefect import (
    CyberdeskCredentials,
    aget_cyberdesk_attachment_url,
    get_cyberdesk_attachment_url,
)


@pytest.fixture
def held_run(core_client: Any, admin: Any) -> Iterator[str]:
    """An active run of the test's own with an output CSV, an output PDF and an input file."""
    run = core_client.runs.create(WF_SLOW)
    admin.add_attachment(run.id, b"a,b\n1,2\n", filename="ledger.csv")
    admin.add_attachment(run.id, b"%PDF-1.7", filename="summary.pdf")
    admin.add_attachment(run.id, b"orders", filename="orders.txt", attachment_type="input")
    yield run.id
    core_client.runs.cancel(run.id)


def test_flow_signs_and_the_urls_download_without_the_key(
    credentials: CyberdeskCredentials, held_run: str, caplog: pytest.LogCaptureFixture
) -> None:
    @flow
    def share_ledger(run_id: str) -> tuple[list[SignedAttachmentUrl], SignedAttachmentUrl]:
        csv = get_cyberdesk_attachment_url(
            credentials, run_id=run_id, filename="*.csv", attachment_type="output"
        )
        assert isinstance(csv, list)
        one = get_cyberdesk_attachment_url(
            credentials, attachment_id=csv[0].attachment_id, expires_in=60
        )
        assert isinstance(one, SignedAttachmentUrl)
        return csv, one

    with caplog.at_level("INFO"):
        listed, one = share_ledger(held_run)
    assert [(s.filename, s.expires_in, s.run_id) for s in listed] == [("ledger.csv", 300, held_run)]
    assert (one.attachment_id, one.expires_in) == (listed[0].attachment_id, 60)
    for signed in (listed[0], one):
        fetched = httpx.get(signed.url)  # no API key
        assert fetched.status_code == 200
        assert fetched.content == b"a,b\n1,2\n"
    assert f"attachment {one.attachment_id} (ledger.csv), valid 60 s" in caplog.text
    assert one.url not in caplog.text
    assert listed[0].url not in caplog.text


async def test_async_form_selects_by_type(credentials: CyberdeskCredentials, held_run: str) -> None:
    everything = await aget_cyberdesk_attachment_url.fn(credentials, run_id=held_run)
    inputs = await aget_cyberdesk_attachment_url.fn(
        credentials, run_id=held_run, attachment_type="input"
    )
    assert isinstance(everything, list)
    assert isinstance(inputs, list)
    assert sorted(s.filename for s in everything) == ["ledger.csv", "orders.txt", "summary.pdf"]
    assert [s.filename for s in inputs] == ["orders.txt"]
    async with httpx.AsyncClient() as anonymous:  # no API key
        assert (await anonymous.get(inputs[0].url)).content == b"orders"


@pytest.mark.parametrize("expires_in", [5, 3601])
def test_expiry_out_of_range_sends_nothing(
    credentials: CyberdeskCredentials, held_run: str, admin: Any, expires_in: int
) -> None:
    admin.reset_stats()
    with pytest.raises(ConfigurationError, match=r"expires_in must be .* between 10 and 3600"):
        get_cyberdesk_attachment_url.fn(credentials, run_id=held_run, expires_in=expires_in)
    assert admin.stats()["requests_by_route"] == {}


def test_selection_needs_one_of_attachment_or_run(
    credentials: CyberdeskCredentials, admin: Any
) -> None:
    admin.reset_stats()
    with pytest.raises(ConfigurationError, match="attachment_id or run_id"):
        get_cyberdesk_attachment_url.fn(credentials)
    assert admin.stats()["requests_by_route"] == {}
