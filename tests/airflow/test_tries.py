"""Telling a person's clear from an automatic retry (``cyberdesk_airflow._tries``).

The end-to-end proof is ``tests/e2e/airflow/test_e2e_airflow_reattach.py`` (a clear through the
REST API of real services); these cases pin the safe side: without a record, or with a store
that fails, a try counts as a retry, which reuses a succeeded run.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from cyberdesk_airflow._tries import STATE_KEY, cleared_since_last_try, record_try

LOG = logging.getLogger("tests.tries")


class Store:
    """The task state store's get/set, in memory."""

    def __init__(self, fail: bool = False) -> None:
        self.values: dict[str, Any] = {}
        self.fail = fail

    def get(self, key: str, default: Any = None) -> Any:
        if self.fail:
            raise RuntimeError("store down")
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        if self.fail:
            raise RuntimeError("store down")
        self.values[key] = value


def _context(max_tries: int, store: Store | None) -> Any:
    context: dict[str, Any] = {"ti": SimpleNamespace(max_tries=max_tries)}
    if store is not None:
        context["task_state_store"] = store
    return context


def test_same_max_tries_is_a_retry_and_a_raised_one_is_a_clear() -> None:
    store = Store()
    record_try(_context(1, store), LOG)
    assert store.values == {STATE_KEY: 1}
    assert not cleared_since_last_try(_context(1, store), LOG)  # automatic retry
    assert cleared_since_last_try(_context(3, store), LOG)  # clear: max_tries raised


@pytest.mark.parametrize(
    "store", [None, Store(), Store(fail=True)], ids=["no-store", "no-record", "broken-store"]
)
def test_the_safe_side_is_a_retry(store: Store | None) -> None:
    """No store (Airflow before 3.3), no record (the first try ran before an upgrade), or a
    store that fails: the try counts as an automatic retry."""
    if store is not None and store.fail:
        record_try(_context(2, store), LOG)  # logs, never raises
    assert not cleared_since_last_try(_context(5, store), LOG)
