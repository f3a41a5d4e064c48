"""The credentials and workflow blocks: standards, validation, save/load, secrecy."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from prefect.blocks.core import Block, block_schema_to_key
from prefect.testing.standard_test_suites.blocks import BlockStandardTestSuite
from prefect.utilities.dispatch import get_registry_for_type, lookup_type
from prefect.utilities.importtools import to_qualified_name
from pydantic import ValidationError

import cyberdesk_prefect
from cyberdesk_prefect import CyberdeskCredentials, CyberdeskWorkflow

SECRET_KEY = "cd_super_secret_value_123"


def _package_blocks() -> list[type[Block]]:
    registry = get_registry_for_type(Block) or {}
    return [
        block
        for block in registry.values()
        if to_qualified_name(block).startswith(cyberdesk_prefect.__name__)
    ]


def test_both_blocks_are_registered() -> None:
    names = {b.__name__ for b in _package_blocks()}
    assert names == {"CyberdeskCredentials", "CyberdeskWorkflow"}


@pytest.mark.parametrize("block", [CyberdeskCredentials, CyberdeskWorkflow], ids=str)
def test_cheap_dispatch_key_is_the_key_prefect_computes(block: type[Block]) -> None:
    # The blocks register under their slug without building their schema at import time;
    # it must stay the key Prefect derives from the full schema, or loading would break.
    assert block.__dispatch_key__() == block_schema_to_key(block._to_block_schema())
    assert lookup_type(Block, block.get_block_type_slug()) is block


@pytest.mark.parametrize("block", _package_blocks(), ids=lambda b: b.__name__)
class TestBlockStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, block: type[Block]) -> type[Block]:
        return block


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"api_key": "  "}, "api_key is empty"),
        ({"api_key": "cd_ab cd"}, "whitespace"),
        ({"api_key": "Bearer cd_x"}, "Bearer"),
        ({"api_key": "cd_x", "base_url": "ftp://host"}, "not an http(s) URL"),
        ({"api_key": "cd_x", "base_url": "https://api.cyberdesk.io/v1"}, "/v1"),
        ({"api_key": "cd_x", "timeout": 0}, "timeout"),
        ({"api_key": "cd_x", "max_retries": -1}, "max_retries"),
    ],
)
def test_credentials_validation_names_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CyberdeskCredentials(**fields)


def test_credentials_normalise_base_url() -> None:
    creds = CyberdeskCredentials(api_key="cd_x", base_url=" http://localhost:8765/ ")
    assert creds.base_url == "http://localhost:8765"


def test_credentials_refuse_plain_http_to_a_remote_host() -> None:
    with pytest.raises(ValidationError) as caught:
        CyberdeskCredentials(api_key=SECRET_KEY, base_url="http://api.example.com")
    message = str(caught.value)
    for word in ("plain http", "CyberdeskCredentials block", "allow_insecure_http=True"):
        assert word in message, (word, message)
    assert SECRET_KEY not in message


def test_credentials_allow_plain_http_explicitly() -> None:
    creds = CyberdeskCredentials(
        api_key="cd_x", base_url="http://api.example.com", allow_insecure_http=True
    )
    with creds.get_client() as client:
        assert client.base_url == "http://api.example.com"
    assert creds.get_async_client().base_url == "http://api.example.com"
    assert CyberdeskCredentials(api_key="cd_x").allow_insecure_http is False


def test_credentials_refuse_userinfo_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        CyberdeskCredentials(api_key="cd_x", base_url="https://me:pw-91c4e@api.example.com")
    assert "remove the user:password@ part" in str(caught.value)
    assert "pw-91c4e" not in str(caught.value)
    with pytest.raises(ValidationError) as bad_scheme:
        CyberdeskCredentials(api_key="cd_x", base_url="ftp://me:pw-91c4e@host")
    assert "pw-91c4e" not in str(bad_scheme.value)


@pytest.mark.parametrize("typed", [" " + SECRET_KEY, SECRET_KEY + " x", "Bearer " + SECRET_KEY])
def test_credentials_validation_errors_do_not_echo_the_key(typed: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CyberdeskCredentials(api_key=typed)
    assert SECRET_KEY not in str(caught.value)


def test_credentials_repr_and_dump_hide_the_key() -> None:
    creds = CyberdeskCredentials(api_key=SECRET_KEY)
    assert SECRET_KEY not in repr(creds)
    assert SECRET_KEY not in str(creds.model_dump())
    assert SECRET_KEY not in creds.model_dump_json()


def test_get_client_talks_to_the_emulator(credentials: CyberdeskCredentials) -> None:
    with credentials.get_client() as client:
        assert client.base_url.rstrip("/") == credentials.base_url
        assert client.runs.list(limit=1).limit == 1


async def test_get_async_client_talks_to_the_emulator(credentials: CyberdeskCredentials) -> None:
    async with credentials.get_async_client() as client:
        assert (await client.runs.list(limit=1)).limit == 1


def test_wrong_key_raises_authentication_error(emulator: Any) -> None:
    from cyberdesk_core import AuthenticationError

    creds = CyberdeskCredentials(api_key="cd_wrong", base_url=emulator.url, max_retries=0)
    with creds.get_client() as client, pytest.raises(AuthenticationError):
        client.runs.list(limit=1)


def test_saved_block_keeps_the_key_secret(emulator: Any, caplog: pytest.LogCaptureFixture) -> None:
    from prefect import get_client

    caplog.set_level(logging.DEBUG)
    CyberdeskCredentials(api_key=SECRET_KEY, base_url=emulator.url).save(
        "secret-check", overwrite=True
    )
    # `load` is sync/async dual (value or coroutine); called outside an event loop it is the block.
    loaded = cast(CyberdeskCredentials, CyberdeskCredentials.load("secret-check"))
    assert loaded.api_key.get_secret_value() == SECRET_KEY
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(
            "secret-check", "cyberdesk-credentials", include_secrets=False
        )
    assert SECRET_KEY not in str(document.data)
    assert SECRET_KEY not in caplog.text


def test_workflow_block_round_trip(credentials: CyberdeskCredentials) -> None:
    from prefect.types import SecretDict

    credentials.save("wf-creds", overwrite=True)
    block = CyberdeskWorkflow(
        credentials=CyberdeskCredentials.load("wf-creds"),
        workflow_id="11111111-1111-4111-8111-000000000001",
        input_values={"month": "2026-10"},
        sensitive_input_values=SecretDict({"password": "hunter2"}),
        poll_interval=0.1,
    )
    block.save("monthly", overwrite=True)
    loaded = cast(CyberdeskWorkflow, CyberdeskWorkflow.load("monthly"))
    assert loaded.workflow_id == block.workflow_id
    assert loaded.input_values == {"month": "2026-10"}
    assert loaded.sensitive_input_values is not None
    assert loaded.sensitive_input_values.get_secret_value() == {"password": "hunter2"}
    assert "hunter2" not in repr(loaded)


def test_block_types_register_from_the_module(tmp_path: Path) -> None:
    """`prefect block register -m cyberdesk_prefect` works against the harness API."""
    import os

    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    completed = subprocess.run(
        [sys.executable, "-m", "prefect", "block", "register", "-m", "cyberdesk_prefect"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Cyberdesk Credentials" in completed.stdout
    assert "Cyberdesk Workflow" in completed.stdout
