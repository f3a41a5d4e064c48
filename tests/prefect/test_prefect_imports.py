"""Importing the package stays light and never pulls in Airflow."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import cyberdesk_prefect

PROBE = """
import json, sys
import prefect
import pytest
before = set(sys.modules)
import cyberdesk_prefect
print(json.dumps({"new": sorted(set(sys.modules) - before)}))
"""


def _probe() -> dict[str, list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_import_defines_blocks_only() -> None:
    new = set(_probe()["new"])
    assert not any(m == "airflow" or m.startswith("airflow.") for m in new)
    heavy = {
        "prefect.tasks",
        "prefect.flows",
        "prefect.artifacts",
        "prefect.concurrency.sync",
        "cyberdesk_core.waiting",
        "cyberdesk_prefect.runs",
        "cyberdesk_prefect.flows",
    }
    assert not heavy & new, sorted(heavy & new)
    assert {"cyberdesk_prefect.credentials", "cyberdesk_prefect.workflows"} <= new


def test_lazy_exports_resolve() -> None:
    for name in cyberdesk_prefect.__all__:
        assert getattr(cyberdesk_prefect, name) is not None, name
    assert set(cyberdesk_prefect.__all__) <= set(dir(cyberdesk_prefect))


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="does_not_exist"):
        cyberdesk_prefect.does_not_exist  # noqa: B018
