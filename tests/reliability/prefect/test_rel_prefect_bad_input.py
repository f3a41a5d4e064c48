"""Bad input catalogue (Prefect): each mistake fails the task with a specific error that names
the problem and what to do, and nothing is created in Cyberdesk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pytest
from rel_prefect_env import ECHO_WORKFLOW, POLL

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State

UNKNOWN = "9d9d9d9d-0000-4000-8000-00000000cafe"


@dataclass(frozen=True)
class Case:
    """``call(credentials)`` runs inside a flow; the failure must be ``error`` with ``words``."""

    call: Callable[[Any], Any]
    error: str
    words: tuple[str, ...]


def _run(**kwargs: Any) -> Callable[[Any], Any]:
    def call(creds: Any) -> Any:
        from cyberdesk_prefect import run_cyberdesk_workflow

        return run_cyberdesk_workflow(creds, kwargs.pop("workflow_id", ECHO_WORKFLOW), **kwargs)

    return call


def _blockless_credentials(_: Any) -> Any:
    from cyberdesk_prefect import CyberdeskCredentials

    # The missing `api_key` is the mistake under test (a validation error at run time).
    return CyberdeskCredentials(base_url="http://127.0.0.1:9")  # type: ignore[call-arg]


def _unknown_block(_: Any) -> Any:
    from cyberdesk_prefect import CyberdeskCredentials

    return CyberdeskCredentials.load("no-such-cyberdesk-block")


def _bulk(count: int) -> Callable[[Any], Any]:
    def call(creds: Any) -> Any:
        from cyberdesk_prefect import bulk_create_cyberdesk_runs

        return bulk_create_cyberdesk_runs(creds, ECHO_WORKFLOW, count)

    return call


def _empty_chain(creds: Any) -> Any:
    from cyberdesk_prefect import run_cyberdesk_chain

    return run_cyberdesk_chain(creds, [])


CASES: dict[str, Case] = {
    "credentials-block-missing-key": Case(
        _blockless_credentials, "ValidationError", ("api_key", "Field required")
    ),
    "credentials-block-not-saved": Case(_unknown_block, "ValueError", ("no-such-cyberdesk-block",)),
    "wrong-api-key": Case(
        lambda creds: _run()(creds.model_copy(update={"api_key": "cd_wrong"})),
        "AuthenticationError",
        ("401", "API key"),
    ),
    "plain-secret-values": Case(
        _run(sensitive_input_values={"pw": "plain-text"}),
        "ConfigurationError",
        ("sensitive_input_values", "SecretStr", "Secret block"),
    ),
    "unknown-secret-block": Case(
        _run(sensitive_input_values="no-such-secret-block"),
        "ConfigurationError",
        ("sensitive_input_values", "no Secret block named", "no-such-secret-block"),
    ),
    "unknown-workflow": Case(
        _run(workflow_id=UNKNOWN), "NotFoundError", ("Workflow", UNKNOWN, "Check")
    ),
    "negative-max-wait": Case(
        _run(timeout=-1, **POLL), "ConfigurationError", ("timeout", "positive")
    ),
    "negative-poll-interval": Case(
        _run(poll_interval=-1), "ConfigurationError", ("poll_interval", "positive")
    ),
    "non-json-input": Case(
        _run(input_values={"when": object()}),
        "ConfigurationError",
        ("input_values", "JSON-serialisable"),
    ),
    "bulk-count-0": Case(_bulk(0), "ConfigurationError", ("count", "1000")),
    "bulk-count-1001": Case(_bulk(1001), "ConfigurationError", ("count", "1000")),
    "empty-chain": Case(_empty_chain, "ConfigurationError", ("steps", "non-empty")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_prefect_input_is_named_and_creates_nothing(
    name: str, credentials: Any, admin: Any
) -> None:
    from prefect import flow

    case = CASES[name]

    @flow(name=f"bad-input-{name}")
    def bad() -> Any:
        return case.call(credentials)

    # `bad` returns `Any`, so mypy picks the async overload (`Awaitable[State]`); a sync flow
    # called with `return_state=True` returns its final state.
    state = cast("State[Any]", bad(return_state=True))
    assert state.is_failed(), state
    exc = state.result(raise_on_failure=False)
    assert isinstance(exc, BaseException), exc
    assert type(exc).__name__ == case.error, (type(exc), exc)
    for word in case.words:
        assert word in str(exc), (word, str(exc))
    stats = admin.stats()
    assert stats["runs_created"] == 0
    creates = sum(n for r, n in stats["requests_by_route"].items() if r.startswith("POST /v1/runs"))
    assert creates <= 1, stats["requests_by_route"]
