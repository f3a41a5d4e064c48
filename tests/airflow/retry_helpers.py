"""Operators whose tries fail or change on purpose, for the re-attach rule's tests."""

from __future__ import annotations

from typing import Any, TypeVar

from conftest import behavior_prompt

from cyberdesk_airflow.operators.base import CyberdeskWaitingOperator

Op = TypeVar("Op", bound=CyberdeskWaitingOperator)

RETRY_ROUTE = "POST /v1/runs/{run_id}/retry"


def retries(emulator: Any) -> int:
    """``POST /v1/runs/{id}/retry`` requests since the emulator's stats were last reset."""
    return int(emulator.admin.stats()["requests_by_route"].get(RETRY_ROUTE, 0))


def fails_after_runs_ended(operator: type[Op]) -> type[Op]:
    """``operator`` whose first try fails after its runs ended (e.g. storing the result failed)."""

    class FailsAfterRunsEnded(operator):  # type: ignore[valid-type,misc]
        def complete(self, context: Any, runs: Any) -> Any:
            if context["ti"].try_number == 1:
                raise RuntimeError("could not store the result")
            return super().complete(context, runs)

    return FailsAfterRunsEnded


def fixed_before_retry(
    operator: type[Op], client: Any, workflow: str, behavior: dict[str, Any]
) -> type[Op]:
    """``operator`` whose second try first gives ``workflow`` a new behaviour (the cause of the
    first try's failure got fixed meanwhile)."""

    class FixedBeforeRetry(operator):  # type: ignore[valid-type,misc]
        def execute(self, context: Any) -> Any:
            if context["ti"].try_number == 2:
                client.workflows.update(workflow, main_prompt=behavior_prompt(behavior))
            return super().execute(context)

    return FixedBeforeRetry
