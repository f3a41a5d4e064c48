"""The Airflow classes the provider builds on, from ``airflow.sdk`` (Airflow 3.1+).

Only what an operator class needs at definition time is imported eagerly; the rest (triggers,
sensors, hooks, object storage, XCom) is imported on first use, because DAG files import the
operators and every parse of a DAG file pays for their imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator as BaseOperator
from airflow.sdk import BaseOperatorLink as BaseOperatorLink
from airflow.sdk.log import mask_secret as _mask_secret

from cyberdesk_core._lazy import LazyExports

# What type checkers see (``X as X`` re-exports it); a test checks it matches _LAZY.
if TYPE_CHECKING:
    from airflow.sdk import BaseHook as BaseHook
    from airflow.sdk import BaseSensorOperator as BaseSensorOperator
    from airflow.sdk import Context as Context
    from airflow.sdk import ObjectStoragePath as ObjectStoragePath
    from airflow.sdk import PokeReturnValue as PokeReturnValue
    from airflow.sdk import conf as conf
    from airflow.sdk.execution_time.xcom import XCom as XCom
    from airflow.triggers.base import BaseTrigger as BaseTrigger
    from airflow.triggers.base import TriggerEvent as TriggerEvent
else:
    try:
        from airflow.sdk import conf as conf
    except ImportError:  # Airflow 3.1 keeps it in airflow.configuration
        from airflow.configuration import conf as conf
    Context = dict

_LAZY: dict[str, str] = {
    "BaseHook": "airflow.sdk",
    "BaseSensorOperator": "airflow.sdk",
    "BaseTrigger": "airflow.triggers.base",
    "ObjectStoragePath": "airflow.sdk",
    "PokeReturnValue": "airflow.sdk",
    "TriggerEvent": "airflow.triggers.base",
    "XCom": "airflow.sdk.execution_time.xcom",
}

_EXPORTS = LazyExports(
    __name__,
    _LAZY,
    eager=["BaseOperator", "BaseOperatorLink", "Context", "conf", "mask_secret"],
)
__all__ = _EXPORTS.names
__getattr__ = _EXPORTS.load
__dir__ = _EXPORTS.listing


def mask_secret(value: Any, name: str | None = None) -> None:
    """Register ``value`` with Airflow's secrets masker so logs show ``***`` instead of it."""
    if value in (None, "", {}, []):
        return
    _mask_secret(value, name)
