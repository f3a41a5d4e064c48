"""``{"$ref": "<alias>.outputs.<path>"}`` resolution against earlier runs of a session."""

from __future__ import annotations

from typing import Any

from .state import Run


class RefError(Exception):
    """A ``$ref`` that cannot be resolved; the message is shown in the run's ``error``."""


def is_ref(value: Any) -> bool:
    """True for an object whose single key is ``$ref`` with a string value."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("$ref"), str)


def has_refs(value: Any) -> bool:
    """True when any nested value is a ``$ref``."""
    if is_ref(value):
        return True
    if isinstance(value, dict):
        return any(has_refs(v) for v in value.values())
    if isinstance(value, list):
        return any(has_refs(v) for v in value)
    return False


def _producer(alias: str, consumer: Run, session_runs: list[Run]) -> Run | None:
    earlier: Run | None = None
    for run in session_runs:
        if run.id == consumer.id:
            break
        if run.session_alias == alias:
            earlier = run
    return earlier


def _resolve_one(ref: str, consumer: Run, session_runs: list[Run]) -> Any:
    alias, sep, path = ref.partition(".outputs.")
    if not sep or not alias or not path:
        raise RefError(f"Invalid $ref {ref!r}: expected '<session_alias>.outputs.<path>'")
    if consumer.session_id is None:
        raise RefError(f"Cannot resolve $ref {ref!r}: the run does not belong to a session")
    producer = _producer(alias, consumer, session_runs)
    if producer is None:
        raise RefError(
            f"Cannot resolve $ref {ref!r}: no earlier run in session {consumer.session_id} "
            f"has session_alias {alias!r}"
        )
    if producer.output_data is None:
        raise RefError(
            f"Cannot resolve $ref {ref!r}: run {producer.id} (alias {alias!r}) ended "
            f"{producer.status.value} without output_data"
        )
    current: Any = producer.output_data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise RefError(
                f"Cannot resolve $ref {ref!r}: output_data of run {producer.id} "
                f"(alias {alias!r}) has no value at {path!r}"
            )
    return current


def resolve_refs(value: Any, consumer: Run, session_runs: list[Run]) -> Any:
    """A copy of ``value`` with every ``$ref`` replaced by the producing run's output."""
    if is_ref(value):
        return _resolve_one(value["$ref"], consumer, session_runs)
    if isinstance(value, dict):
        return {k: resolve_refs(v, consumer, session_runs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_refs(v, consumer, session_runs) for v in value]
    return value
