"""Applying the core's re-attach rule to an earlier try's chain or batch, in Prefect's terms.

The rule itself lives in `cyberdesk_core` (`reattaching`, `chain_resuming`); this module only
supplies what a re-run needs from the task's parameters (secrets, placement, a key per try and
run) and writes the decision to the task log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cyberdesk_core import describe_batch
from cyberdesk_prefect._idempotency import current_identity, retry_idempotency_key
from cyberdesk_prefect.observability import get_logger

if TYPE_CHECKING:
    from cyberdesk_core import Reconciled, Run
    from cyberdesk_core.chain_resuming import StepRetryOptions
    from cyberdesk_prefect._params import Params


def created_by_earlier_try(params: Params) -> bool:
    """Whether an earlier try (of the task or of its flow run) may have created these runs:
    a retry, or a caller's own key that may have been used before."""
    return current_identity().is_retry or params["idempotency_key"] is not None


def chain_step_options(
    params: Params,
    step_secrets: Sequence[dict[str, Any] | None],
    shared_secrets: dict[str, Any] | None,
) -> StepRetryOptions:
    """`runs.retry` options for each step of a chain that runs again."""
    last = len(step_secrets) - 1
    keep = params["keep_session_after_completion"]

    def options(index: int, run: Run) -> Any:
        secrets = {**(shared_secrets or {}), **(step_secrets[index] or {})}
        return {
            "sensitive_input_values": secrets or None,
            "machine_id": params["machine_id"],
            "pool_ids": params["pool_ids"],
            "is_priority": params["is_priority"],
            "release_session_after": None if keep else index == last,
            "idempotency_key": retry_idempotency_key(run.id),
        }

    return options


def held_session(params: Params, session_id: str) -> str | None:
    """The chain's session when it still holds its machine (kept, or an existing session)."""
    return session_id if params["keep_session_after_completion"] or params["session_id"] else None


def batch_retry_options(params: Params, sensitive: Any) -> Any:
    """`runs.retry` options for one run of a batch that runs again (files stay on the run)."""

    def options(run_id: str) -> Any:
        return {
            "input_values": params["input_values"],
            "sensitive_input_values": sensitive,
            "machine_id": params["machine_id"],
            "pool_ids": params["pool_ids"],
            "session_id": params["session_id"],
            "is_priority": params["is_priority"],
            "idempotency_key": retry_idempotency_key(run_id),
        }

    return options


def log_batch(outcomes: Sequence[Reconciled]) -> list[Run]:
    """Log what the rule did with an earlier try's batch; the runs to wait for."""
    get_logger().info("%s", describe_batch(outcomes))
    return [outcome.run for outcome in outcomes]
