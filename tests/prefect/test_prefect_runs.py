"""Single-run tasks: trigger, get (never cached), cancel, retry; sync and async."""

from __future__ import annotations

import time
from typing import Any

import pytest
from prefect import flow
from prefect.blocks.system import Secret
from prefect.types import SecretDict
from prefect_seed import POLL, WF_DOUBLE, WF_ERROR, WF_OK, WF_SLOW
from pydantic import SecretStr

from cyberdesk_prefect import (
    CyberdeskCredentials,
    acancel_cyberdesk_run,
    aget_cyberdesk_run,
    aretry_cyberdesk_run,
    atrigger_cyberdesk_run,
    await_cyberdesk_run,
    cancel_cyberdesk_run,
    get_cyberdesk_run,
    retry_cyberdesk_run,
    trigger_cyberdesk_run,
    wait_for_cyberdesk_run,
)
from cyberdesk_prefect.results import CyberdeskRunResult


def _wait_terminal(core_client: Any, run_id: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = core_client.runs.get(run_id)
        if run.status.is_terminal:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not end")


def test_trigger_sends_every_create_option(
    credentials: CyberdeskCredentials, core_client: Any, tmp_path: Any
) -> None:
    source = tmp_path / "invoice.pdf"
    source.write_bytes(b"%PDF-1.4 test")

    @flow
    def trigger() -> CyberdeskRunResult:
        return trigger_cyberdesk_run(
            credentials,
            WF_OK,
            input_values={"month": "2026-10"},
            sensitive_input_values={"password": SecretStr("hunter2")},
            file_inputs=[source, ("notes.txt", b"hello")],
            pool_ids=["22222222-2222-4222-8222-000000000001"],
            start_session=True,
            session_alias="report",
            release_session_after=True,
            is_priority=True,
            main_prompt="Override prompt",
        )

    result = trigger()
    assert result.status == "scheduling"
    assert result.run_url.endswith(f"/dashboard/runs/{result.run_id}")
    assert result.session_id == result.run_id  # start_session: session id = run id
    run = core_client.runs.get(result.run_id)
    assert run.input_values == {"month": "2026-10"}
    assert set(run.sensitive_input_aliases or {}) == {"password"}
    assert run.pool_ids == ["22222222-2222-4222-8222-000000000001"]
    assert run.is_priority is True
    assert run.session_alias == "report"
    assert len(run.input_attachment_ids or []) == 2
    assert "hunter2" not in result.model_dump_json()
    assert _wait_terminal(core_client, result.run_id).status == "success"


async def test_atrigger_then_await_for_run(credentials: CyberdeskCredentials) -> None:
    @flow
    async def trigger_and_wait() -> CyberdeskRunResult:
        started = await atrigger_cyberdesk_run(credentials, WF_DOUBLE, input_values={"value": 7})
        return await await_cyberdesk_run(credentials, started.run_id, **POLL)

    result = await trigger_and_wait()
    assert result.status == "success"
    assert result.output_data == {"value": "7"} or result.output_data == {"value": 7}


def test_trigger_then_wait_for_run(credentials: CyberdeskCredentials, download_dir: Any) -> None:
    @flow
    def trigger_and_wait() -> CyberdeskRunResult:
        started = trigger_cyberdesk_run(credentials, WF_OK, input_values={"month": "2026-09"})
        return wait_for_cyberdesk_run(
            credentials, started.run_id, download_to=str(download_dir), **POLL
        )

    result = trigger_and_wait()
    assert result.succeeded
    assert [a.filename for a in result.attachments] == ["tb_2026-09.csv"]
    assert (download_dir / "tb_2026-09.csv").read_text().startswith("account,amount")


def test_sensitive_inputs_from_a_secret_block(
    credentials: CyberdeskCredentials, core_client: Any
) -> None:
    Secret(value={"username": "ops", "password": "s3cr3t"}).save("erp-login", overwrite=True)

    @flow
    def trigger() -> CyberdeskRunResult:
        return trigger_cyberdesk_run(credentials, WF_OK, sensitive_input_values="erp-login")

    result = trigger()
    run = core_client.runs.get(result.run_id)
    assert set(run.sensitive_input_aliases or {}) == {"username", "password"}
    assert "s3cr3t" not in run.model_dump_json()


async def test_sensitive_inputs_as_secret_dict_async(
    credentials: CyberdeskCredentials, core_client: Any
) -> None:
    @flow
    async def trigger() -> CyberdeskRunResult:
        return await atrigger_cyberdesk_run(
            credentials, WF_OK, sensitive_input_values=SecretDict({"pin": "1234"})
        )

    result = await trigger()
    assert set(core_client.runs.get(result.run_id).sensitive_input_aliases or {}) == {"pin"}


def test_plain_sensitive_values_are_refused_before_any_request(
    credentials: CyberdeskCredentials, admin: Any
) -> None:
    from cyberdesk_core import ConfigurationError

    before = admin.stats()["runs_created"]
    with pytest.raises(ConfigurationError, match="not a secret type"):
        # A plain str value is deliberately outside the parameter's type: the test checks that
        # the task refuses it at run time.
        trigger_cyberdesk_run.fn(
            credentials,
            WF_OK,
            sensitive_input_values={"password": "plain"},  # type: ignore[dict-item]
        )
    with pytest.raises(ConfigurationError, match="Secret block") as info:
        trigger_cyberdesk_run.fn(credentials, WF_OK, sensitive_input_values="Plain Password!")
    assert "Plain Password!" not in str(info.value)
    assert admin.stats()["runs_created"] == before


def test_get_cyberdesk_run_is_never_cached(credentials: CyberdeskCredentials) -> None:
    """Identical reads in one flow with result persistence on still see fresh state."""

    @flow(persist_result=True)
    def read_twice() -> list[str]:
        started = trigger_cyberdesk_run(credentials, WF_SLOW)
        first = get_cyberdesk_run(credentials, started.run_id)
        cancel_cyberdesk_run(credentials, started.run_id)
        second = get_cyberdesk_run(credentials, started.run_id)
        return [first.status, second.status]

    first, second = read_twice()
    assert first in ("scheduling", "running")
    assert second == "cancelled"


async def test_aget_cyberdesk_run_reads_fresh_state(credentials: CyberdeskCredentials) -> None:
    @flow(persist_result=True)
    async def read_twice() -> list[str]:
        started = await atrigger_cyberdesk_run(credentials, WF_SLOW)
        first = await aget_cyberdesk_run(credentials, started.run_id)
        await acancel_cyberdesk_run(credentials, started.run_id)
        second = await aget_cyberdesk_run(credentials, started.run_id)
        return [first.status, second.status]

    first, second = await read_twice()
    assert first in ("scheduling", "running")
    assert second == "cancelled"


def test_cancel_cyberdesk_run(credentials: CyberdeskCredentials, admin: Any) -> None:
    @flow
    def start_and_cancel() -> tuple[CyberdeskRunResult, CyberdeskRunResult]:
        started = trigger_cyberdesk_run(credentials, WF_SLOW)
        return started, cancel_cyberdesk_run(credentials, started.run_id)

    started, cancelled = start_and_cancel()
    assert cancelled.status == "cancelled"
    assert admin.run_state(started.run_id)["run"]["status"] == "cancelled"


def test_cancel_leaves_an_ended_run_alone(
    credentials: CyberdeskCredentials, core_client: Any
) -> None:
    @flow
    def run_then_cancel() -> CyberdeskRunResult:
        started = trigger_cyberdesk_run(credentials, WF_DOUBLE, input_values={"value": 2})
        wait_for_cyberdesk_run(credentials, started.run_id, **POLL)
        return cancel_cyberdesk_run(credentials, started.run_id)

    assert run_then_cancel().status == "success"


def test_retry_cyberdesk_run_reruns_an_ended_run(
    credentials: CyberdeskCredentials, core_client: Any, admin: Any
) -> None:
    @flow
    def fail_then_retry() -> tuple[str, CyberdeskRunResult]:
        started = trigger_cyberdesk_run(credentials, WF_ERROR)
        ended = wait_for_cyberdesk_run(credentials, started.run_id, raise_on_failure=False, **POLL)
        retried = retry_cyberdesk_run(
            credentials, started.run_id, sensitive_input_values={"token": SecretStr("t0k3n")}
        )
        return ended.status, retried

    first_status, retried = fail_then_retry()
    assert first_status == "error"
    assert retried.status == "scheduling"
    assert set(core_client.runs.get(retried.run_id).sensitive_input_aliases or {}) == {"token"}
    assert admin.stats()["requests_by_route"].get("POST /v1/runs/{run_id}/retry", 0) >= 1


async def test_aretry_cyberdesk_run(credentials: CyberdeskCredentials, core_client: Any) -> None:
    @flow
    async def fail_then_retry() -> CyberdeskRunResult:
        started = await atrigger_cyberdesk_run(credentials, WF_DOUBLE, input_values={"value": 3})
        await await_cyberdesk_run(credentials, started.run_id, **POLL)
        return await aretry_cyberdesk_run(credentials, started.run_id, input_values={"value": 4})

    retried = await fail_then_retry()
    assert retried.status == "scheduling"
    assert _wait_terminal(core_client, retried.run_id).output_data in ({"value": "4"}, {"value": 4})


def test_download_task_to_a_local_folder(
    credentials: CyberdeskCredentials, download_dir: Any
) -> None:
    from cyberdesk_prefect import download_cyberdesk_attachments

    @flow
    def fetch() -> tuple[list[Any], list[Any]]:
        started = trigger_cyberdesk_run(
            credentials, WF_OK, input_values={"month": "2026-05"}, file_inputs=[("in.txt", b"x")]
        )
        wait_for_cyberdesk_run(credentials, started.run_id, create_artifact=False, **POLL)
        outputs = download_cyberdesk_attachments(credentials, started.run_id, download_dir)
        inputs = download_cyberdesk_attachments(
            credentials, started.run_id, download_dir / "inputs", attachment_type="input"
        )
        return outputs, inputs

    outputs, inputs = fetch()
    assert [a.filename for a in outputs] == ["tb_2026-05.csv"]
    assert (download_dir / "tb_2026-05.csv").read_bytes() == b"account,amount\n1000,42\n"
    assert (download_dir / "inputs" / "in.txt").read_bytes() == b"x"
    assert inputs[0].attachment_type == "input"


async def test_async_download_task_to_a_filesystem_block(
    credentials: CyberdeskCredentials, tmp_path: Any
) -> None:
    from prefect.filesystems import LocalFileSystem

    from cyberdesk_prefect import adownload_cyberdesk_attachments

    storage = LocalFileSystem(basepath=str(tmp_path / "store"))

    @flow
    async def fetch() -> list[Any]:
        started = await atrigger_cyberdesk_run(credentials, WF_OK, input_values={"month": "06"})
        await await_cyberdesk_run(credentials, started.run_id, create_artifact=False, **POLL)
        return await adownload_cyberdesk_attachments(
            credentials, started.run_id, filesystem=storage, folder="monthly"
        )

    infos = await fetch()
    written = tmp_path / "store" / "monthly" / "tb_06.csv"
    assert written.read_bytes() == b"account,amount\n1000,42\n"
    assert infos[0].local_path == str(written)


def test_download_needs_a_destination(credentials: CyberdeskCredentials) -> None:
    from cyberdesk_prefect import download_cyberdesk_attachments

    with pytest.raises(ValueError, match="destination"):
        download_cyberdesk_attachments.fn(credentials, "11111111-1111-4111-8111-00000000abcd")
