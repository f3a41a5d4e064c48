# mypy: disallow-untyped-defs, warn-unused-ignores
"""Misspelled, missing and wrongly typed keywords are refused, statically and at run time.

Every `# type: ignore[...]` below marks a call mypy must reject: with warn-unused-ignores an
ignore that is no longer needed is itself an error. At run time the misspelled calls raise
TypeError before any request; and the sync and async wrappers of each resource group take the
same parameters, so both read the same option TypedDicts. (`test_core_typed_calls.py` calls
every method with every keyword it accepts.)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from core_fakes import FakeAPI

from cyberdesk_core import AsyncCyberdeskClient, CyberdeskClient, await_run, wait_for_run


def misspelled_sync(c: CyberdeskClient) -> list[Callable[[], object]]:
    """One misspelled keyword per option set (blocking client and wait_for_run)."""
    return [
        lambda: c.runs.create("wf-1", idempotency_kee="k"),  # type: ignore[call-arg]
        lambda: c.runs.list(workflow="wf-1"),  # type: ignore[call-arg]
        lambda: c.runs.iter(page_sise=10),  # type: ignore[call-arg]
        lambda: c.runs.iter(skip=10),  # type: ignore[call-arg]
        lambda: c.runs.retry("run-1", reuse_sessions=True),  # type: ignore[call-arg]
        lambda: c.runs.bulk_create("wf-1", 2, session_alias="a"),  # type: ignore[call-arg]
        lambda: c.runs.chain([], shared_input={}),  # type: ignore[call-arg]
        lambda: c.run_attachments.list(run="run-1"),  # type: ignore[call-arg]
        lambda: c.run_attachments.iter(attachment="output"),  # type: ignore[call-arg]
        lambda: c.run_attachments.create(  # type: ignore[call-arg]
            "run-1",
            filename="f",
            content=b"",
            content_type="text/plain",
            attachment_type="input",
            target="~",
        ),
        lambda: c.run_attachments.create("run-1", filename="f"),  # type: ignore[call-arg]
        lambda: c.machines.list(names="pc"),  # type: ignore[call-arg]
        lambda: c.workflows.list(tags=["t"]),  # type: ignore[call-arg]
        lambda: wait_for_run(c, "run-1", poll=1.0),  # type: ignore[call-arg]
    ]


def misspelled_async(c: AsyncCyberdeskClient) -> list[Callable[[], Any]]:
    """The same misspellings against the asyncio client and await_run."""
    return [
        lambda: c.runs.create("wf-1", idempotency_kee="k"),  # type: ignore[call-arg]
        lambda: c.runs.list(workflow="wf-1"),  # type: ignore[call-arg]
        lambda: c.runs.iter(page_sise=10),  # type: ignore[call-arg]
        lambda: c.runs.iter(skip=10),  # type: ignore[call-arg]
        lambda: c.runs.retry("run-1", reuse_sessions=True),  # type: ignore[call-arg]
        lambda: c.runs.bulk_create("wf-1", 2, session_alias="a"),  # type: ignore[call-arg]
        lambda: c.runs.chain([], shared_input={}),  # type: ignore[call-arg]
        lambda: c.run_attachments.list(run="run-1"),  # type: ignore[call-arg]
        lambda: c.run_attachments.iter(attachment="output"),  # type: ignore[call-arg]
        lambda: c.run_attachments.create(  # type: ignore[call-arg]
            "run-1",
            filename="f",
            content=b"",
            content_type="text/plain",
            attachment_type="input",
            target="~",
        ),
        lambda: c.run_attachments.create("run-1", filename="f"),  # type: ignore[call-arg]
        lambda: c.machines.list(names="pc"),  # type: ignore[call-arg]
        lambda: c.workflows.list(tags=["t"]),  # type: ignore[call-arg]
        lambda: await_run(c, "run-1", poll=1.0),  # type: ignore[call-arg]
    ]


def test_misspelled_keywords_raise_type_error(api: FakeAPI, client: CyberdeskClient) -> None:
    for call in misspelled_sync(client):
        with pytest.raises(TypeError, match=r"unexpected keyword argument|missing required"):
            # Raised by the call itself: `iter` checks its filters before the first page.
            call()
    assert api.requests == []


async def settle(call: Callable[[], Any]) -> None:
    """Call, and await the result when it is a coroutine (`iter` is not: it raises at once)."""
    pending = call()
    if inspect.isawaitable(pending):
        await pending


async def test_misspelled_keywords_raise_type_error_async(
    api: FakeAPI, aclient: AsyncCyberdeskClient
) -> None:
    for call in misspelled_async(aclient):
        with pytest.raises(TypeError, match=r"unexpected keyword argument|missing required"):
            await settle(call)
    assert api.requests == []
    await aclient.aclose()


def test_sync_and_async_wrappers_share_option_sets() -> None:
    """Parameter names and annotations match, so both read the same option TypedDicts."""
    sync = CyberdeskClient("k", base_url="https://x")
    asyn = AsyncCyberdeskClient("k", base_url="https://x")
    for group in ("runs", "run_attachments", "machines", "pools", "workflows", "usage"):
        s, a = getattr(sync, group), getattr(asyn, group)
        for name in (n for n in dir(s) if not n.startswith("_")):
            s_params = inspect.signature(getattr(s, name)).parameters.values()
            a_params = inspect.signature(getattr(a, name)).parameters.values()
            assert [(p.name, p.kind, p.default, p.annotation) for p in s_params] == [
                (p.name, p.kind, p.default, p.annotation) for p in a_params
            ], (group, name)
    sync.close()


if TYPE_CHECKING:

    async def rejected_types(c: CyberdeskClient, a: AsyncCyberdeskClient) -> None:
        """Wrongly typed and missing keywords are type errors too (checked, never run)."""
        c.runs.create("wf-1", idempotency_key=3)  # type: ignore[arg-type]
        c.runs.list(limit="10")  # type: ignore[arg-type]
        c.runs.retry("run-1", pool_ids=[1])  # type: ignore[list-item]
        c.run_attachments.create(
            "run-1",
            filename="f",
            content="text",  # type: ignore[arg-type]
            content_type="text/plain",
            attachment_type="input",
        )
        await a.runs.chain([], keep_session_after_completion="yes")  # type: ignore[arg-type]
        wait_for_run(c, "run-1", poll_interval="5")  # type: ignore[arg-type]
