"""Cyberdesk operators.

Each operator's module is imported when the operator is first used, so importing this package
(as every DAG file parse does) costs next to nothing beyond Airflow itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cyberdesk_airflow.operators.attachments import CyberdeskDownloadAttachmentsOperator
    from cyberdesk_airflow.operators.bulk import CyberdeskBulkRunOperator
    from cyberdesk_airflow.operators.chain import CyberdeskChainOperator
    from cyberdesk_airflow.operators.run import CyberdeskRunOperator

_MODULES = {
    "CyberdeskBulkRunOperator": "bulk",
    "CyberdeskChainOperator": "chain",
    "CyberdeskDownloadAttachmentsOperator": "attachments",
    "CyberdeskRunOperator": "run",
}

__all__ = [
    "CyberdeskBulkRunOperator",
    "CyberdeskChainOperator",
    "CyberdeskDownloadAttachmentsOperator",
    "CyberdeskRunOperator",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
