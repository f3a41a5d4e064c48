"""The key under which a chain step's outputs are returned, the same in every engine.

A step is keyed by its `session_alias` (the name its `$ref`s use); a step without one is keyed
``step_<n>``, its 1-based position in the chain, so no step's outputs go missing from the
Airflow task result or the Prefect `CyberdeskChainResult.outputs` / `.by_alias`.
"""

from __future__ import annotations

__all__ = ["chain_step_key"]


def chain_step_key(session_alias: str | None, index: int) -> str:
    """`session_alias`, or ``step_<index + 1>`` when the step has none (empty counts as none).

    :param index: the step's 0-based position in the chain.
    """
    return str(session_alias) if session_alias else f"step_{index + 1}"
