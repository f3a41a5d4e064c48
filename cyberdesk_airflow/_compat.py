"""Version-tolerant imports of the Airflow classes the provider builds on.

Airflow 3.1+ exposes everything through ``airflow.sdk``; the fallbacks keep the provider
importable on 3.0, whose SDK keeps ``BaseHook`` and ``mask_secret`` in older modules.

Only what an operator class needs at definition time is imported eagerly; the rest (triggers,
sensors, hooks, object storage, XCom) is imported on first use, because DAG files import the
operators and every parse of a DAG file pays for their imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import (
        BaseHook,
        BaseSensorOperator,
        Context,
        ObjectStoragePath,
        PokeReturnValue,
        conf,
    )
    from airflow.sdk.execution_time.xcom import XCom
    from airflow.sdk.log import mask_secret as _mask_secret
    from airflow.triggers.base import BaseTrigger, TriggerEvent
else:
    try:
        from airflow.sdk import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf

    try:
        from airflow.sdk.log import mask_secret as _mask_secret
    except ImportError:  # Airflow 3.0
        from airflow.sdk.execution_time.secrets_masker import mask_secret as _mask_secret
    Context = dict

# name -> (module, attribute) candidates, tried in order on first access.
_LAZY: dict[str, tuple[tuple[str, str], ...]] = {
    "BaseHook": (("airflow.sdk", "BaseHook"), ("airflow.hooks.base", "BaseHook")),  # 3.0
    "BaseSensorOperator": (("airflow.sdk", "BaseSensorOperator"),),
    "BaseTrigger": (("airflow.triggers.base", "BaseTrigger"),),
    "ObjectStoragePath": (("airflow.sdk", "ObjectStoragePath"),),
    "PokeReturnValue": (("airflow.sdk", "PokeReturnValue"),),
    "TriggerEvent": (("airflow.triggers.base", "TriggerEvent"),),
    "XCom": (("airflow.sdk.execution_time.xcom", "XCom"),),
}

__all__ = [
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "ObjectStoragePath",
    "PokeReturnValue",
    "TriggerEvent",
    "XCom",
    "conf",
    "mask_secret",
]


def __getattr__(name: str) -> Any:
    candidates = _LAZY.get(name)
    if candidates is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    error: Exception | None = None
    for module, attribute in candidates:
        try:
            value = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            error = exc
            continue
        globals()[name] = value
        return value
    raise ImportError(f"Airflow provides no {name}") from error


def mask_secret(value: Any, name: str | None = None) -> None:
    """Register ``value`` with Airflow's secrets masker so logs show ``***`` instead of it."""
    if value in (None, "", {}, []):
        return
    _mask_secret(value, name)
