"""Provider registration: schema-valid metadata, the connection form, the extra link."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest

from cyberdesk_airflow.get_provider_info import get_provider_info
from cyberdesk_airflow.hooks import CyberdeskHook
from cyberdesk_airflow.links import CyberdeskRunLink

AIRFLOW_DIR = Path(airflow.__file__).parent


def test_provider_info_validates_against_airflow_schema() -> None:
    schema = json.loads((AIRFLOW_DIR / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_entry_point_is_registered() -> None:
    names = {
        ep.value
        for ep in entry_points(group="apache_airflow_provider")
        if ep.name == "provider_info"
    }
    assert "cyberdesk_airflow.get_provider_info:get_provider_info" in names


def test_ui_field_behaviour_matches_hook_and_form_schema() -> None:
    (conn,) = get_provider_info()["connection-types"]
    behaviour = conn["ui-field-behaviour"]
    as_hook_dict = {
        "hidden_fields": behaviour["hidden-fields"],
        "relabeling": behaviour["relabeling"],
        "placeholders": behaviour["placeholders"],
    }
    schema = json.loads((AIRFLOW_DIR / "customized_form_field_behaviours.schema.json").read_text())
    jsonschema.validate(as_hook_dict, schema)
    assert as_hook_dict == CyberdeskHook.get_ui_field_behaviour()
    assert conn["connection-type"] == CyberdeskHook.conn_type == "cyberdesk"
    assert conn["hook-name"] == CyberdeskHook.hook_name
    assert conn["hook-class-name"] == "cyberdesk_airflow.hooks.CyberdeskHook"
    assert set(conn["conn-fields"]) == {"timeout", "max_retries", "allow_insecure_http"}


def test_providers_manager_serves_connection_form_from_metadata() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()  # type: ignore[no-untyped-call]
    assert "cyberdesk-orchestration" in manager.providers
    assert "cyberdesk_airflow.links.CyberdeskRunLink" in manager.extra_links_class_names
    if not hasattr(manager, "iter_connection_type_hook_ui_metadata"):
        # Airflow < 3.2 builds the form from the hook's classmethods, and only when the form
        # libraries (wtforms) are installed.
        hook_info = manager.hooks["cyberdesk"]
        assert hook_info is not None
        assert hook_info.hook_name == "Cyberdesk"
        if importlib.util.find_spec("wtforms") is not None:
            behaviour = manager.field_behaviours["cyberdesk"]
            assert behaviour["relabeling"] == {"host": "Base URL", "password": "API key"}
        return
    metadata = {m.connection_type: m for m in manager.iter_connection_type_hook_ui_metadata()}
    cyberdesk = metadata["cyberdesk"]
    assert cyberdesk.hook_name == "Cyberdesk"
    assert cyberdesk.hook_class_name == "cyberdesk_airflow.hooks.CyberdeskHook"
    assert cyberdesk.field_behaviour is not None
    assert cyberdesk.field_behaviour["relabeling"] == {"host": "Base URL", "password": "API key"}
    assert cyberdesk.field_behaviour["placeholders"]["password"] == "cd_..."
    widgets = manager._connection_form_widgets_from_metadata
    timeout = widgets["extra__cyberdesk__timeout"]
    assert timeout.field["schema"]["title"] == "Request timeout (seconds)"
    assert not timeout.is_sensitive
    served = {key for key in widgets if key.startswith("extra__cyberdesk__")}
    assert served == {f"extra__cyberdesk__{name}" for name in conn_fields()}
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    runtime_hook = ProvidersManagerTaskRuntime().hooks["cyberdesk"]  # type: ignore[no-untyped-call]
    assert runtime_hook is not None
    assert runtime_hook.hook_class_name == "cyberdesk_airflow.hooks.CyberdeskHook"


def test_connection_form_fields_are_the_extras_the_hook_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The extra fields have one declaration, the provider metadata's ``conn-fields``: the hook
    # defines no wtforms widgets (Airflow 3.2 deprecated them), and what the form saves (the
    # fields' defaults here, under the prefix older forms used) configures the client.
    assert "get_connection_form_widgets" not in CyberdeskHook.__dict__
    (conn,) = get_provider_info()["connection-types"]
    saved = {
        f"extra__cyberdesk__{name}": field["schema"]["default"]
        for name, field in conn["conn-fields"].items()
    }
    saved["extra__cyberdesk__max_retries"] = 5
    monkeypatch.setenv(
        "AIRFLOW_CONN_CD_FORM",
        json.dumps({"conn_type": "cyberdesk", "password": "k", "extra": json.dumps(saved)}),
    )
    with CyberdeskHook("cd_form").get_client() as client:
        assert client.retry_policy.max_retries == 5
        assert client.base_url == "https://api.cyberdesk.io"


def conn_fields() -> dict[str, Any]:
    (conn,) = get_provider_info()["connection-types"]
    fields: dict[str, Any] = conn["conn-fields"]
    return fields


def test_link_name_and_key() -> None:
    link = CyberdeskRunLink()
    assert link.name == "Cyberdesk Run"
    assert link.xcom_key == "_link_CyberdeskRunLink"


def test_provider_info_import_is_light() -> None:
    code = (
        "import sys, json; from cyberdesk_airflow.get_provider_info import get_provider_info;"
        "get_provider_info(); print(json.dumps(sorted(m for m in ('airflow', 'cyberdesk_core',"
        " 'httpx') if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []
