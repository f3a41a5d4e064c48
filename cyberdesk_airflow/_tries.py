"""Tell a person's clear from an automatic retry, with Airflow's own task state store (3.3+).

The rule itself (reuse a succeeded run unless re-running was asked for) lives in
``cyberdesk_core.reattaching``; this module only answers "did a person ask?" in Airflow terms.

Airflow raises ``max_tries`` of a task instance exactly when it is cleared (``clear_task_instances``
and a cleared running task that the executor terminated) and never on an automatic retry. Each
try that decides what to do with its run records ``max_tries`` in ``context["task_state_store"]``,
whose rows are shared by all tries of the task instance and survive clears. A later try that finds
a different ``max_tries`` was started by a clear since; the same value means an automatic retry.
Where there is no store (Airflow before 3.3) or no record (the first try ran before an upgrade),
the answer is "no": the safe side, which reuses a succeeded run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cyberdesk_airflow._compat import Context

#: Task state store key holding the ``max_tries`` of the last try that decided about its run.
STATE_KEY = "cyberdesk_max_tries"


def _store(context: Context) -> Any:
    return context.get("task_state_store")


def cleared_since_last_try(context: Context, log: Any) -> bool:
    """True when this task instance was cleared since the last try recorded itself."""
    store = _store(context)
    if store is None:
        return False
    try:
        recorded = store.get(STATE_KEY)
    except Exception as exc:  # a store that cannot be read must not re-run a succeeded run
        log.warning("Could not read the task state store (%s); treating this try as a retry", exc)
        return False
    current = getattr(context["ti"], "max_tries", None)
    return isinstance(recorded, int) and isinstance(current, int) and recorded != current


def record_try(context: Context, log: Any) -> None:
    """Remember this try's ``max_tries`` so that a later try can tell a clear from a retry."""
    store = _store(context)
    current = getattr(context["ti"], "max_tries", None)
    if store is None or not isinstance(current, int):
        return
    try:
        store.set(STATE_KEY, current)
    except Exception as exc:  # without the record a later clear reuses: the safe side
        log.warning("Could not write the task state store: %s", exc)
