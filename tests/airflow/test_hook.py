"""CyberdeskHook: connection parsing, clients, test_connection, masking."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from airflow.sdk._shared.secrets_masker.secrets_masker import redact
from conftest import connection_json

from cyberdesk_airflow.hooks import CYBERDESK_CLOUD_URL, CyberdeskHook


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "cyberdesk", **fields})
    )


def test_test_connection_ok(emulator: Any) -> None:
    ok, message = CyberdeskHook().test_connection()
    assert ok, message
    assert "succeeded" in message


def test_test_connection_bad_key(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CD_BAD", connection_json(emulator.url, "cd_wrong_key_123"))
    ok, message = CyberdeskHook("cd_bad").test_connection()
    assert not ok
    assert "cd_wrong_key_123" not in message
    assert "401" in message or "uthenticat" in message


def test_test_connection_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(
        monkeypatch,
        "cd_down",
        host="http://127.0.0.1:9",
        password="k",
        extra=json.dumps({"max_retries": 0, "timeout": 2}),
    )
    ok, message = CyberdeskHook("cd_down").test_connection()
    assert not ok
    assert message.startswith("Cyberdesk connection failed")


def test_base_url_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "cd_cloud", password="k1")
    _set_conn(monkeypatch, "cd_bare", host="cyberdesk.internal", port=8443, password="k2")
    _set_conn(monkeypatch, "cd_http", host="http://127.0.0.1:8765/", password="k3")
    with CyberdeskHook("cd_cloud").get_client() as client:
        assert client.base_url == CYBERDESK_CLOUD_URL == "https://api.cyberdesk.io"
        assert client.run_url("r1") == "https://cyberdesk.io/dashboard/runs/r1"
    with CyberdeskHook("cd_bare").get_client() as client:
        assert client.base_url == "https://cyberdesk.internal:8443"
    with CyberdeskHook("cd_http").get_client() as client:
        assert client.base_url == "http://127.0.0.1:8765"


def test_extras_set_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(
        monkeypatch,
        "cd_extra",
        password="k",
        extra=json.dumps({"extra__cyberdesk__max_retries": 7, "timeout": 5}),
    )
    with CyberdeskHook("cd_extra").get_client() as client:
        assert client.retry_policy.max_retries == 7
    with CyberdeskHook("cd_extra", max_retries=1).get_client() as client:
        assert client.retry_policy.max_retries == 1


def test_missing_api_key_names_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "cd_nokey", host="http://127.0.0.1:1")
    with pytest.raises(Exception, match=r"cd_nokey.*password"):
        CyberdeskHook("cd_nokey").get_client()


def test_api_key_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "cd_mask", password="cd_super_secret_value_42")
    CyberdeskHook("cd_mask").get_client().close()
    assert "cd_super_secret_value_42" not in str(redact("key=cd_super_secret_value_42"))


def test_async_client_uses_async_connection_lookup(
    emulator: Any, ok_workflow: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []
    async_lookup = CyberdeskHook.aget_connection

    def sync_lookup(conn_id: str) -> Any:
        raise AssertionError(f"synchronous connection lookup of {conn_id!r} inside the loop")

    async def recording_async_lookup(conn_id: str) -> Any:
        lookups.append(conn_id)
        return await async_lookup(conn_id)

    monkeypatch.setattr(CyberdeskHook, "get_connection", staticmethod(sync_lookup))
    monkeypatch.setattr(CyberdeskHook, "aget_connection", staticmethod(recording_async_lookup))

    async def main() -> int:
        client = await CyberdeskHook().aget_async_client()
        async with client:
            page = await client.runs.list(workflow_id=ok_workflow, limit=1)
            return page.total

    assert asyncio.run(main()) >= 0
    assert lookups == ["cyberdesk_default"]


def test_get_async_client_is_a_deprecated_alias(emulator: Any) -> None:
    async def main() -> str:
        with pytest.deprecated_call(match="aget_async_client"):
            client = await CyberdeskHook().get_async_client()
        async with client:
            return client.base_url

    assert asyncio.run(main()) == emulator.url.rstrip("/")
