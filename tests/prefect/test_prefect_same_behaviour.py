"""What the Prefect integration shares with the Airflow provider, decided once in the core:
the download result's `path` and file permissions, the key of an unaliased chain step, and
the wording of a timeout after which the run was cancelled."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.filesystems import LocalFileSystem
from prefect_seed import POLL, WATCH, WF_DOUBLE, WF_OK, WF_SLOW

from cyberdesk_core import RunTimeoutError
from cyberdesk_prefect import (
    CyberdeskCredentials,
    bulk_create_cyberdesk_runs,
    download_cyberdesk_attachments,
    run_cyberdesk_chain,
    run_cyberdesk_workflow,
    wait_for_cyberdesk_runs,
)
from cyberdesk_prefect.results import (
    CyberdeskAttachmentInfo,
    CyberdeskChainResult,
    CyberdeskRunResult,
)


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def held_run(core_client: Any) -> Iterator[str]:
    run = core_client.runs.create(WF_SLOW)
    yield run.id
    core_client.runs.cancel(run.id)


@pytest.mark.usefixtures("umask_027")
@pytest.mark.parametrize("target", ["folder", "block"])
def test_download_result_has_path_and_umask_permissions(
    target: str, credentials: CyberdeskCredentials, admin: Any, held_run: str, tmp_path: Path
) -> None:
    admin.add_attachment(held_run, b"a,b\n", filename="report.csv")
    if target == "folder":
        infos = download_cyberdesk_attachments.fn(credentials, held_run, tmp_path)
    else:
        block = LocalFileSystem(basepath=str(tmp_path))
        infos = download_cyberdesk_attachments.fn(credentials, held_run, filesystem=block)
    (info,) = infos
    assert info.path == str(tmp_path / "report.csv")
    assert stat.S_IMODE(os.stat(info.path).st_mode) == 0o640  # 0o666 minus the umask 027
    assert set(info.model_dump()) >= {"path"}
    assert "local_path" not in info.model_dump()


def test_local_path_is_a_deprecated_alias_of_path() -> None:
    info = CyberdeskAttachmentInfo(id="a", filename="x.csv", path="/data/x.csv")
    with pytest.warns(DeprecationWarning, match=r"local_path is deprecated.*\.path"):
        assert info.local_path == "/data/x.csv"
    # A result persisted before the rename still loads.
    old = CyberdeskAttachmentInfo.model_validate(
        {"id": "a", "filename": "x.csv", "local_path": "/data/x.csv"}
    )
    assert old.path == "/data/x.csv"


def _step(alias: str | None, value: int) -> CyberdeskRunResult:
    return CyberdeskRunResult(
        run_id=f"r{value}",
        workflow_id="w",
        status="success",
        run_url="u",
        session_alias=alias,
        output_data={"value": value},
    )


def test_unaliased_chain_step_is_keyed_by_its_position() -> None:
    chain = CyberdeskChainResult(
        session_id="s", run_ids=["r1", "r2"], results=[_step("first", 1), _step(None, 2)]
    )
    assert chain.outputs == {"first": {"value": 1}, "step_2": {"value": 2}}
    assert chain.by_alias["step_2"].run_id == "r2"


def test_chain_task_returns_every_step(credentials: CyberdeskCredentials) -> None:
    steps = [
        {"workflow_id": WF_OK, "session_alias": "report", "inputs": {"month": "2026-07"}},
        {"workflow_id": WF_DOUBLE, "inputs": {"value": "7"}},
    ]

    @flow
    def chained() -> CyberdeskChainResult:
        return run_cyberdesk_chain(credentials, steps, **WATCH)

    result = chained()
    assert set(result.outputs) == {"report", "step_2"}
    assert result.outputs["step_2"] == {"value": "7"}


def _assert_cancelled_wording(error: RunTimeoutError) -> None:
    assert f"Cyberdesk run {error.run_id} did not finish before" in str(error)
    assert str(error).endswith("and was cancelled.")
    assert "cancel it or wait longer" not in str(error)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_timeout_after_cancelling_says_the_run_was_cancelled(
    credentials: CyberdeskCredentials, use_async: bool
) -> None:
    from cyberdesk_prefect import arun_cyberdesk_workflow

    @flow
    def sync_wait() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(credentials, WF_SLOW, timeout=0.5, **POLL)

    @flow
    async def async_wait() -> CyberdeskRunResult:
        return await arun_cyberdesk_workflow(credentials, WF_SLOW, timeout=0.5, **POLL)

    state = await async_wait(return_state=True) if use_async else sync_wait(return_state=True)
    with pytest.raises(RunTimeoutError) as info:
        await state.aresult()
    _assert_cancelled_wording(info.value)


def test_batch_timeout_after_cancelling_says_the_run_was_cancelled(
    credentials: CyberdeskCredentials,
) -> None:
    @flow
    def stuck() -> list[CyberdeskRunResult]:
        created = bulk_create_cyberdesk_runs(credentials, WF_SLOW, 2)
        return wait_for_cyberdesk_runs(credentials, created, timeout=0.5, **WATCH)

    state = stuck(return_state=True)
    with pytest.raises(RunTimeoutError) as info:
        state.result()
    _assert_cancelled_wording(info.value)
