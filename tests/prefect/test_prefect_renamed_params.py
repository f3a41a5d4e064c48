"""Deprecated parameter names of the tasks, flows and the workflow block warn and still work.

`sensitive_inputs` -> `sensitive_input_values`, `poll_interval_seconds` -> `poll_interval`,
`max_poll_interval_seconds` -> `max_poll_interval`, `max_wait_seconds` -> `timeout`,
`fail_policy` -> `fail_on`: each old name is accepted with a `DeprecationWarning`, and giving
both names is an error naming both.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from prefect import flow
from prefect.blocks.system import Secret
from prefect.utilities.callables import parameter_schema
from prefect_seed import WF_ERROR, WF_OK, WF_SLOW
from pydantic import SecretStr

from cyberdesk_core import ConfigurationError, RunTimeoutError
from cyberdesk_prefect import (
    CyberdeskCredentials,
    CyberdeskWorkflow,
    atrigger_cyberdesk_run,
    bulk_create_cyberdesk_runs,
    retry_cyberdesk_run,
    run_cyberdesk_chain,
    run_cyberdesk_workflow,
    run_cyberdesk_workflow_flow,
    trigger_cyberdesk_run,
    wait_for_cyberdesk_run,
    wait_for_cyberdesk_runs,
)
from cyberdesk_prefect.results import CyberdeskChainResult, CyberdeskRunResult

SECRETS = {"password": SecretStr("hunter2")}


def _renamed(old: str, new: str) -> Any:
    return pytest.warns(DeprecationWarning, match=rf"\({old}=\.\.\.\) is deprecated.*use {new}=")


def _secret_names(core_client: Any, run_id: str) -> set[str]:
    return set(core_client.runs.get(run_id).sensitive_input_aliases or {})


def test_sensitive_inputs_of_trigger(credentials: CyberdeskCredentials, core_client: Any) -> None:
    @flow
    def trigger() -> CyberdeskRunResult:
        return trigger_cyberdesk_run(credentials, WF_OK, sensitive_inputs=SECRETS)

    with _renamed("sensitive_inputs", "sensitive_input_values"):
        result = trigger()
    assert _secret_names(core_client, result.run_id) == {"password"}


async def test_sensitive_inputs_of_the_async_trigger(
    credentials: CyberdeskCredentials, core_client: Any
) -> None:
    @flow
    async def trigger() -> CyberdeskRunResult:
        return await atrigger_cyberdesk_run(credentials, WF_OK, sensitive_inputs=SECRETS)

    with _renamed("sensitive_inputs", "sensitive_input_values"):
        result = await trigger()
    assert _secret_names(core_client, result.run_id) == {"password"}


def test_sensitive_inputs_of_retry_and_bulk(
    credentials: CyberdeskCredentials, core_client: Any
) -> None:
    @flow
    def retried_and_bulk() -> tuple[CyberdeskRunResult, list[str]]:
        ended = run_cyberdesk_workflow(credentials, WF_ERROR, raise_on_failure=False)
        retried = retry_cyberdesk_run(credentials, ended.run_id, sensitive_inputs=SECRETS)
        bulk = bulk_create_cyberdesk_runs(credentials, WF_OK, 2, sensitive_inputs=SECRETS)
        return retried, bulk.run_ids

    with _renamed("sensitive_inputs", "sensitive_input_values"):
        retried, bulk_ids = retried_and_bulk()
    for run_id in [retried.run_id, *bulk_ids]:
        assert _secret_names(core_client, run_id) == {"password"}


def test_wait_options_of_run_workflow(
    credentials: CyberdeskCredentials, core_client: Any, admin: Any
) -> None:
    @flow
    def succeeds() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(
            credentials,
            WF_OK,
            input_values={"month": "2026-05"},
            sensitive_inputs=SECRETS,
            poll_interval_seconds=0.1,
            max_poll_interval_seconds=0.3,
        )

    @flow
    def times_out() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(credentials, WF_SLOW, max_wait_seconds=0.5, poll_interval=0.1)

    with (
        _renamed("sensitive_inputs", "sensitive_input_values"),
        _renamed("poll_interval_seconds", "poll_interval"),
        _renamed("max_poll_interval_seconds", "max_poll_interval"),
    ):
        result = succeeds()
    assert result.succeeded
    assert _secret_names(core_client, result.run_id) == {"password"}

    with _renamed("max_wait_seconds", "timeout"):
        state = times_out(return_state=True)
    with pytest.raises(RunTimeoutError) as timed_out:
        state.result()
    assert admin.run_state(timed_out.value.run_id)["run"]["status"] == "cancelled"


def test_wait_options_of_wait_for_run(credentials: CyberdeskCredentials) -> None:
    @flow
    def wait() -> CyberdeskRunResult:
        started = trigger_cyberdesk_run(credentials, WF_OK, input_values={"month": "2026-06"})
        return wait_for_cyberdesk_run(
            credentials,
            started.run_id,
            poll_interval_seconds=0.1,
            max_poll_interval_seconds=0.3,
            max_wait_seconds=60,
        )

    with (
        _renamed("poll_interval_seconds", "poll_interval"),
        _renamed("max_poll_interval_seconds", "max_poll_interval"),
        _renamed("max_wait_seconds", "timeout"),
    ):
        result = wait()
    assert result.succeeded
    # The old names reach the wait: a value the new name refuses is refused under the old one.
    with (
        pytest.raises(ConfigurationError, match="max_poll_interval"),
        _renamed("max_poll_interval_seconds", "max_poll_interval"),
    ):
        wait_for_cyberdesk_run.fn(
            credentials, "run-1", poll_interval=1, max_poll_interval_seconds=0.5
        )
    with (
        pytest.raises(ConfigurationError, match="timeout must be a positive"),
        _renamed("max_wait_seconds", "timeout"),
    ):
        wait_for_cyberdesk_run.fn(credentials, "run-1", max_wait_seconds=-1)


def test_wait_options_of_wait_for_runs(credentials: CyberdeskCredentials) -> None:
    @flow
    def mixed() -> list[CyberdeskRunResult]:
        good = trigger_cyberdesk_run(credentials, WF_OK, input_values={"month": "01"})
        bad = trigger_cyberdesk_run(credentials, WF_ERROR)
        return wait_for_cyberdesk_runs(
            credentials,
            [good, bad.run_id],
            create_artifact=False,
            poll_interval_seconds=0.1,
            max_wait_seconds=60,
            fail_policy="never",
        )

    with (
        _renamed("poll_interval_seconds", "poll_interval"),
        _renamed("max_wait_seconds", "timeout"),
        _renamed("fail_policy", "fail_on"),
    ):
        results = mixed()
    assert sorted(r.status for r in results) == ["error", "success"]


def test_wait_options_of_chain(credentials: CyberdeskCredentials, admin: Any) -> None:
    @flow
    def chain() -> CyberdeskChainResult:
        return run_cyberdesk_chain(
            credentials,
            steps=[{"workflow_id": WF_SLOW, "session_alias": "slow"}],
            poll_interval_seconds=0.1,
            max_wait_seconds=0.5,
            create_artifact=False,
        )

    with (
        _renamed("poll_interval_seconds", "poll_interval"),
        _renamed("max_wait_seconds", "timeout"),
    ):
        state = chain(return_state=True)
    with pytest.raises(RunTimeoutError) as timed_out:
        state.result()
    assert admin.run_state(timed_out.value.run_id)["run"]["status"] == "cancelled"


def test_old_names_of_the_flow(saved_credentials: CyberdeskCredentials, core_client: Any) -> None:
    Secret(value={"password": "flow-secret-value"}).save("renamed-login", overwrite=True)
    with (
        _renamed("sensitive_inputs", "sensitive_input_values"),
        _renamed("poll_interval_seconds", "poll_interval"),
        _renamed("max_wait_seconds", "timeout"),
    ):
        result = run_cyberdesk_workflow_flow(
            saved_credentials,
            WF_OK,
            input_values={"month": "2026-07"},
            sensitive_inputs="renamed-login",
            poll_interval_seconds=0.1,
            max_wait_seconds=60,
        )
    assert result.succeeded
    assert _secret_names(core_client, result.run_id) == {"password"}


def test_old_names_of_the_workflow_block(
    credentials: CyberdeskCredentials, core_client: Any
) -> None:
    with (
        _renamed("poll_interval_seconds", "poll_interval"),
        _renamed("max_poll_interval_seconds", "max_poll_interval"),
        _renamed("max_wait_seconds", "timeout"),
    ):
        block = CyberdeskWorkflow(
            credentials=credentials,
            workflow_id=WF_OK,
            poll_interval_seconds=0.1,
            max_poll_interval_seconds=0.3,
            max_wait_seconds=60,
        )
    assert (block.poll_interval, block.max_poll_interval, block.timeout) == (0.1, 0.3, 60)

    @flow
    def run() -> CyberdeskRunResult:
        return block.run(input_values={"month": "2026-08"}, sensitive_inputs=SECRETS)

    with _renamed("sensitive_inputs", "sensitive_input_values"):
        result = run()
    assert result.succeeded
    assert _secret_names(core_client, result.run_id) == {"password"}


def test_both_names_are_an_error(credentials: CyberdeskCredentials) -> None:
    with pytest.raises(TypeError, match=r"both sensitive_input_values and .* sensitive_inputs"):
        trigger_cyberdesk_run.fn(
            credentials, WF_OK, sensitive_input_values=SECRETS, sensitive_inputs=SECRETS
        )
    with pytest.raises(TypeError, match=r"both timeout and .* max_wait_seconds"):
        wait_for_cyberdesk_run.fn(credentials, "run-1", timeout=5, max_wait_seconds=5)
    with pytest.raises(TypeError, match=r"both fail_on and .* fail_policy"):
        wait_for_cyberdesk_runs.fn(credentials, [], fail_on="all", fail_policy="never")
    with pytest.raises(TypeError, match=r"both poll_interval and .* poll_interval_seconds"):
        CyberdeskWorkflow(
            credentials=credentials, workflow_id=WF_OK, poll_interval=1, poll_interval_seconds=2
        )
    block = CyberdeskWorkflow(credentials=credentials, workflow_id=WF_OK)
    with pytest.raises(TypeError, match=r"both sensitive_input_values and .* sensitive_inputs"):
        block.trigger_sync(sensitive_input_values=SECRETS, sensitive_inputs=SECRETS)


def test_old_names_come_last_and_say_they_are_deprecated() -> None:
    schema = parameter_schema(cast(Any, run_cyberdesk_workflow).fn).properties
    names = list(schema)
    old = ["sensitive_inputs", "poll_interval_seconds", "max_poll_interval_seconds"]
    assert names[-4:] == [*old, "max_wait_seconds"]
    assert schema["max_wait_seconds"]["description"] == "Deprecated name of `timeout`."
    assert "Deprecated" not in schema["sensitive_input_values"]["description"]
