"""Guards that run before anything is sent or stored: where the connection may send the API key
(``allow_insecure_http`` extra) and chain steps carrying secrets (refused at DAG parse time)."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cyberdesk_airflow.hooks import CyberdeskHook
from cyberdesk_airflow.operators.chain import CyberdeskChainOperator
from cyberdesk_core import ConfigurationError

KEY = "cd_hook_secret_key_987"
WF = "0e0e0e0e-0000-4000-8000-000000000001"


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": "cyberdesk", "password": KEY, **fields}),
    )


def test_plain_http_connection_host_is_refused_naming_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _set_conn(monkeypatch, "cd_plain", host="http://api.example.com")
    with pytest.raises(ConfigurationError) as caught:
        CyberdeskHook("cd_plain").get_client()
    message = str(caught.value)
    for word in ("plain http", "Airflow connection 'cd_plain'", '"allow_insecure_http": true'):
        assert word in message, (word, message)
    assert KEY not in message
    with pytest.raises(ConfigurationError, match="cd_plain"):
        asyncio.run(CyberdeskHook("cd_plain").aget_async_client())
    ok, shown = CyberdeskHook("cd_plain").test_connection()
    assert not ok
    assert "allow_insecure_http" in shown
    assert KEY not in shown


def test_schema_http_with_bare_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "cd_schema", host="api.example.com", schema="http")
    with pytest.raises(ConfigurationError, match="plain http"):
        CyberdeskHook("cd_schema").get_client()


@pytest.mark.parametrize("flag", [True, "true", "True", "1"])
def test_the_extra_allows_plain_http(monkeypatch: pytest.MonkeyPatch, flag: object) -> None:
    _set_conn(
        monkeypatch,
        "cd_allowed",
        host="http://api.example.com",
        extra=json.dumps({"allow_insecure_http": flag}),
    )
    with CyberdeskHook("cd_allowed").get_client() as client:
        assert client.base_url == "http://api.example.com"
    kwargs = asyncio.run(CyberdeskHook("cd_allowed").aget_client_kwargs())
    assert kwargs["allow_insecure_http"] is True


def test_form_prefixed_extra_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(
        monkeypatch,
        "cd_form",
        host="http://api.example.com",
        extra=json.dumps({"extra__cyberdesk__allow_insecure_http": True}),
    )
    with CyberdeskHook("cd_form").get_client() as client:
        assert client.base_url == "http://api.example.com"
    _set_conn(
        monkeypatch,
        "cd_typo",
        host="http://api.example.com",
        extra=json.dumps({"allow_insecure_http": "sure"}),
    )
    with pytest.raises(ConfigurationError, match=r"allow_insecure_http.*true or false"):
        CyberdeskHook("cd_typo").get_client()


def test_loopback_http_needs_no_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "cd_local", host="http://localhost:8765")
    with CyberdeskHook("cd_local").get_client() as client:
        assert client.base_url == "http://localhost:8765"


def test_userinfo_in_the_host_is_refused_without_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_conn(monkeypatch, "cd_userinfo", host="https://admin:pa55word-x@api.example.com")
    with pytest.raises(ConfigurationError) as caught:
        CyberdeskHook("cd_userinfo").get_client()
    assert "remove the user:password@ part" in str(caught.value)
    assert "pa55word-x" not in str(caught.value)


# -- chain steps with secrets: refused when the DAG file is parsed ------------------------

CANARY = "canary-pin-5a1e7c0d"

DAG_FILE = """
from airflow.sdk import DAG

from cyberdesk_airflow.operators.chain import CyberdeskChainOperator

PIN = "{canary}"
STEPS = [
    {{"workflow_id": "{wf}", "session_alias": "login", "{key}": {{"pin": PIN}}}},
]

with DAG("{dag_id}", schedule=None):
    CyberdeskChainOperator(task_id="chain", steps=STEPS)
"""


@pytest.mark.parametrize("key", ["sensitive_inputs", "sensitive_input_values"])
def test_chain_step_secrets_fail_the_dag_import(tmp_path: Path, key: str) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow before 3.2 keeps it in airflow.models
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    dag_id = f"chain_secret_{key}"
    source = DAG_FILE.format(canary=CANARY, wf=WF, key=key, dag_id=dag_id)
    path = tmp_path / f"{dag_id}.py"
    path.write_text(textwrap.dedent(source))
    bag = DagBag(dag_folder=str(tmp_path), bundle_path=tmp_path)
    assert dag_id not in bag.dags  # nothing the DAG processor could serialize
    (error,) = bag.import_errors.values()
    assert f"Chain step 'login' has {key} inside the templated steps" in error
    assert "step_sensitive_inputs" in error
    assert CANARY not in error


def test_templated_steps_are_checked_once_rendered() -> None:
    from airflow.sdk import DAG

    with DAG("chain_templated_steps", schedule=None):
        # A template string in place of the list (rendered at run time, e.g. as a native object).
        template: Any = "{{ var.json.chain_steps }}"
        op = CyberdeskChainOperator(task_id="chain", steps=template)
    # What the template would render to: the execute-time guard refuses it before any request.
    op.steps = [{"workflow_id": WF, "session_alias": "a", "sensitive_inputs": {"pin": CANARY}}]
    with pytest.raises(ValueError, match="'a' has sensitive_inputs") as caught:
        op._chain_steps()
    assert CANARY not in str(caught.value)


def test_inputs_named_like_secrets_are_fine() -> None:
    from airflow.sdk import DAG

    with DAG("chain_plain_inputs", schedule=None):
        CyberdeskChainOperator(
            task_id="chain", steps=[{"workflow_id": WF, "inputs": {"secret_santa_count": 3}}]
        )
