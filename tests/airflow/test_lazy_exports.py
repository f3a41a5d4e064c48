"""The provider's lazily exporting modules: every name resolves, and importing them stays light."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest


@pytest.mark.parametrize("name", ["cyberdesk_airflow.operators", "cyberdesk_airflow._compat"])
def test_lazy_exports_resolve(name: str) -> None:
    module = importlib.import_module(name)
    assert dir(module) == module.__all__ == module._EXPORTS.names
    for export in module.__all__:
        assert getattr(module, export) is not None


def test_importing_the_operators_package_loads_no_operator_module() -> None:
    code = (
        "import sys, json, cyberdesk_airflow.operators;"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith("
        "('cyberdesk_airflow.operators.', 'cyberdesk_core.client', 'httpx', 'pydantic')))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout.splitlines()[-1]) == []
