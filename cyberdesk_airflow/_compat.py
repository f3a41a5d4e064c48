"""Version-tolerant imports of the Airflow classes the provider builds on.

Airflow 3.1+ exposes everything through ``airflow.sdk``; the fallbacks keep the provider
importable on 3.0, whose SDK keeps ``BaseHook`` and ``mask_secret`` in older modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import (
    BaseOperator,
    BaseOperatorLink,
    BaseSensorOperator,
    ObjectStoragePath,
    PokeReturnValue,
)
from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow.sdk import BaseHook, Context, conf
else:
    try:
        from airflow.sdk import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf

    try:
        from airflow.sdk import BaseHook
    except ImportError:  # Airflow 3.0
        from airflow.hooks.base import BaseHook
    Context = dict

if TYPE_CHECKING:
    from airflow.sdk.log import mask_secret as _mask_secret
else:
    try:
        from airflow.sdk.log import mask_secret as _mask_secret
    except ImportError:  # Airflow 3.0
        from airflow.sdk.execution_time.secrets_masker import mask_secret as _mask_secret

from airflow.sdk.execution_time.xcom import XCom

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


def mask_secret(value: Any, name: str | None = None) -> None:
    """Register ``value`` with Airflow's secrets masker so logs show ``***`` instead of it."""
    if value in (None, "", {}, []):
        return
    _mask_secret(value, name)
