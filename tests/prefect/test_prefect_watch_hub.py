"""The process-wide watcher hub: its thread, exit, fork, abandoned waits, keys and errors."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prefect import flow
from prefect_seed import POLL, WATCH, WF_OK, WF_SLOW

from cyberdesk_core import AuthenticationError, CyberdeskError, Run
from cyberdesk_prefect import (
    CyberdeskCredentials,
    await_cyberdesk_run,
    wait_for_cyberdesk_run,
    wait_for_cyberdesk_runs,
)
from cyberdesk_prefect._shared_wait import (
    HUB,
    HubFuture,
    HubStoppedError,
    LoopWaker,
    RunHints,
    wait_on_hub,
    watch_key,
)
from cyberdesk_prefect.results import CyberdeskRunResult


def _watch(
    credentials: CyberdeskCredentials,
    run: Run,
    on_change: Any = None,
    max_poll_interval: float = 0.3,
) -> HubFuture[Run]:
    return HUB.submit(
        HUB.watch(
            credentials,
            run.id,
            poll_interval=0.1,
            max_poll_interval=max_poll_interval,
            hints=RunHints.of(run),
            deadline=None,
            on_status_change=on_change or (lambda _run: None),
        )
    )


def _until(condition: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def slow_run(core_client: Any) -> Iterator[Run]:
    """A run that never ends by itself; cancelled after the test if still active."""
    run = core_client.runs.create(WF_SLOW)
    yield run
    if not core_client.runs.get(run.id).status.is_terminal:
        core_client.runs.cancel(run.id)


def test_hub_thread_is_a_daemon_and_restarts_after_shutdown(
    credentials: CyberdeskCredentials, core_client: Any, slow_run: Run
) -> None:
    done = wait_on_hub(_watch(credentials, core_client.runs.create(WF_OK)))
    assert str(done.status) == "success"
    thread = HUB.thread
    assert thread is not None
    assert thread.daemon
    assert thread.name == "cyberdesk-run-watcher"
    key = credentials.api_key.get_secret_value()
    assert key not in repr(HUB)
    assert key not in repr(watch_key(credentials, 0.1))

    # Shut down between polls (the first one seen), not in the middle of a connect.
    polled = threading.Event()
    pending = _watch(credentials, slow_run, lambda _run: polled.set())
    assert polled.wait(10)
    HUB.shutdown()
    assert not thread.is_alive()
    with pytest.raises(HubStoppedError, match="shut down"):
        pending.result(timeout=5)
    # The next wait starts a new loop thread.
    again = wait_on_hub(_watch(credentials, core_client.runs.create(WF_OK)))
    assert str(again.status) == "success"
    assert HUB.thread is not None
    assert HUB.thread is not thread


EXIT_PROBE = """
import atexit, sys, time
seen = {}
# Registered before the hub's own handler, so it runs after it.
atexit.register(lambda: print("HUB_THREAD_ALIVE_AT_EXIT", seen["thread"].is_alive(), flush=True))
from cyberdesk_core import CyberdeskClient
from cyberdesk_prefect import CyberdeskCredentials
from cyberdesk_prefect._shared_wait import HUB, RunHints

url, key, workflow = sys.argv[1:4]
credentials = CyberdeskCredentials(api_key=key, base_url=url)
with CyberdeskClient(key, base_url=url) as client:
    run = client.runs.create(workflow)
HUB.submit(HUB.watch(credentials, run.id, poll_interval=0.1, max_poll_interval=0.1,
                     hints=RunHints.of(run), deadline=None, on_status_change=print))
seen["thread"] = HUB.thread
while run.id not in HUB.watched_run_ids():
    time.sleep(0.05)
time.sleep(0.3)
print("RUN", run.id, flush=True)
"""


def test_interpreter_exit_stops_the_hub_cleanly(emulator: Any, core_client: Any) -> None:
    # The main thread returns while a wait is still registered: the daemon thread must not
    # keep the process alive, and the exit handler closes the watcher and its client.
    done = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE, emulator.url, emulator.api_key, WF_SLOW],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "HUB_THREAD_ALIVE_AT_EXIT False" in done.stdout
    for noise in ("Traceback", "Exception ignored", "was destroyed but it is pending"):
        assert noise not in done.stderr, done.stderr[-2000:]
    run_id = done.stdout.split("RUN ", 1)[1].split()[0]
    core_client.runs.cancel(run_id)


def _wait_in_child(
    credentials: CyberdeskCredentials, run: Run, answers: multiprocessing.Queue[Any]
) -> None:
    ended = wait_on_hub(_watch(credentials, run))
    thread = HUB.thread
    answers.put((str(ended.status), thread.ident if thread else None))
    answers.close()
    answers.join_thread()
    # Leave at once: the usual exit flushes stdio buffers whose locks another thread of
    # this busy test process (server logs) may have held at fork time.
    os._exit(0)


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX only")
def test_forked_child_waits_through_a_hub_of_its_own(
    credentials: CyberdeskCredentials, core_client: Any
) -> None:
    wait_on_hub(_watch(credentials, core_client.runs.create(WF_OK)))
    parent_thread = HUB.thread
    assert parent_thread is not None
    context = multiprocessing.get_context("fork")
    answers: multiprocessing.Queue[Any] = context.Queue()
    child = context.Process(
        target=_wait_in_child, args=(credentials, core_client.runs.create(WF_OK), answers)
    )
    # Fork while another thread holds the hub's lock: the child must not inherit it held.
    with HUB._lock:
        child.start()
    try:
        status, child_thread = answers.get(timeout=60)
    finally:
        child.join(timeout=30)
    assert child.exitcode == 0
    assert status == "success"
    assert child_thread is not None
    # The parent's hub is untouched by the child.
    assert HUB.thread is parent_thread
    assert parent_thread.is_alive()


def test_task_timeout_unregisters_the_wait_and_cancels_the_run(
    credentials: CyberdeskCredentials, admin: Any, slow_run: Run
) -> None:
    @flow
    def stuck() -> CyberdeskRunResult:
        return wait_for_cyberdesk_run.with_options(timeout_seconds=1)(
            credentials, slow_run.id, **POLL
        )

    state = stuck(return_state=True)
    assert state.is_failed()
    _until(lambda: slow_run.id not in HUB.watched_run_ids())
    assert admin.run_state(slow_run.id)["run"]["status"] == "cancelled"


def test_bulk_wait_timeout_unregisters_every_run(
    credentials: CyberdeskCredentials, admin: Any, core_client: Any
) -> None:
    run_ids = [core_client.runs.create(WF_SLOW).id for _ in range(3)]

    @flow
    def stuck() -> list[CyberdeskRunResult]:
        return wait_for_cyberdesk_runs.with_options(timeout_seconds=1)(
            credentials, run_ids, **WATCH
        )

    assert stuck(return_state=True).is_failed()
    _until(lambda: not set(run_ids) & HUB.watched_run_ids())
    assert {admin.run_state(i)["run"]["status"] for i in run_ids} == {"cancelled"}


async def _until_async(condition: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        await asyncio.sleep(0.05)


async def _watched_async_wait(credentials: CyberdeskCredentials, run: Run) -> asyncio.Future[Any]:
    """An async wait task for `run`, returned once the hub polls the run."""
    waiting = asyncio.ensure_future(
        await_cyberdesk_run.fn(credentials, run.id, create_artifact=False, **POLL)
    )
    await _until_async(lambda: run.id in HUB.watched_run_ids())
    return waiting


async def test_cancelled_async_wait_unregisters_the_wait(
    credentials: CyberdeskCredentials, slow_run: Run
) -> None:
    waiting = await _watched_async_wait(credentials, slow_run)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await _until_async(lambda: slow_run.id not in HUB.watched_run_ids())


def test_a_rotated_key_gets_a_watcher_of_its_own(
    credentials: CyberdeskCredentials, emulator: Any, core_client: Any, slow_run: Run
) -> None:
    revoked = CyberdeskCredentials(api_key="cd_revoked_key", base_url=emulator.url, max_retries=0)
    assert watch_key(revoked, 0.1) != watch_key(credentials, 0.1)
    assert watch_key(credentials.model_copy(), 0.1) == watch_key(credentials, 0.1)
    # Same interval, same emulator, at the same time: the revoked key fails on its own while
    # the valid key's wait runs to its end.
    failing = _watch(revoked, slow_run)
    fine = _watch(credentials, core_client.runs.create(WF_OK))
    with pytest.raises(AuthenticationError):
        wait_on_hub(failing)
    assert str(wait_on_hub(fine).status) == "success"


def test_unexpected_error_in_the_hub_names_the_run(
    credentials: CyberdeskCredentials, core_client: Any
) -> None:
    run = core_client.runs.create(WF_OK)

    def broken(_run: Run) -> None:
        raise ValueError("callback broke")

    with pytest.raises(CyberdeskError, match="failed in the shared run watcher") as caught:
        wait_on_hub(_watch(credentials, run, broken))
    assert run.id in str(caught.value)
    assert "ValueError: callback broke" in str(caught.value)
    assert isinstance(caught.value.__cause__, ValueError)


def test_a_stopped_hub_fails_its_waits_instead_of_hanging(
    credentials: CyberdeskCredentials, core_client: Any, slow_run: Run
) -> None:
    wait_on_hub(_watch(credentials, core_client.runs.create(WF_OK)))
    loop = HUB._loop
    assert loop is not None
    polled = threading.Event()
    pending = _watch(credentials, slow_run, lambda _run: polled.set())
    assert polled.wait(10)
    loop.call_soon_threadsafe(loop.stop)
    started = time.monotonic()
    with pytest.raises(HubStoppedError, match="thread stopped"):
        wait_on_hub(pending)
    assert time.monotonic() - started < 5
    # Let the stopped loop finish its tasks (closing the watcher's client), then drop it.
    loop.run_until_complete(HUB._stop_all())
    loop.close()
    assert str(wait_on_hub(_watch(credentials, core_client.runs.create(WF_OK))).status) == (
        "success"
    )


async def test_a_stopped_hub_fails_async_waits_at_once(
    credentials: CyberdeskCredentials, core_client: Any, slow_run: Run
) -> None:
    # No timer backs an async wait: the hub thread fails what it leaves pending as it stops.
    await await_cyberdesk_run.fn(
        credentials, core_client.runs.create(WF_OK).id, create_artifact=False, **POLL
    )
    loop = HUB._loop
    assert loop is not None
    waiting = await _watched_async_wait(credentials, slow_run)
    loop.call_soon_threadsafe(loop.stop)
    started = time.monotonic()
    with pytest.raises(HubStoppedError, match="thread stopped"):
        await waiting
    assert time.monotonic() - started < 2
    # The stopped loop still holds the watcher's task and client: finish and drop them.
    await asyncio.to_thread(loop.run_until_complete, HUB._stop_all())
    loop.close()


async def test_waits_ending_together_wake_their_loop_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waker = LoopWaker()
    flushes: list[int] = []
    flush = waker._flush

    def counting_flush(loop: asyncio.AbstractEventLoop) -> None:
        flushes.append(1)
        flush(loop)

    monkeypatch.setattr(waker, "_flush", counting_flush)
    futures: list[HubFuture[int]] = [
        HubFuture(threading.current_thread(), os.getpid()) for _ in range(200)
    ]
    woken = [waker.wake_when_done(f) for f in futures]

    def finish_all() -> None:
        for n, future in enumerate(futures):
            future.set_running_or_notify_cancel()
            future.set_result(n)

    # All 200 end (in another thread, like the hub's) before this loop runs again.
    finisher = threading.Thread(target=finish_all)
    finisher.start()
    finisher.join()
    await asyncio.wait_for(asyncio.gather(*woken), timeout=5)
    assert len(flushes) == 1
    assert [f.result() for f in futures] == list(range(200))


def test_waits_share_a_watcher_only_with_the_same_back_off(
    credentials: CyberdeskCredentials, core_client: Any, slow_run: Run
) -> None:
    assert watch_key(credentials, 0.1, 0.3) != watch_key(credentials, 0.1, 5.0)
    assert watch_key(credentials, 0.1) == watch_key(credentials, 0.1, 0.1)
    patient_run = core_client.runs.create(WF_SLOW)
    # Same credentials and interval, different back-off bounds: each gets what it asked for.
    brisk = _watch(credentials, slow_run, max_poll_interval=0.3)
    patient = _watch(credentials, patient_run, max_poll_interval=5.0)
    try:
        _until(lambda: {slow_run.id, patient_run.id} <= HUB.watched_run_ids())

        async def bounds() -> dict[str, float]:
            return {i: w.max_poll_interval for w in list(HUB._watchers) for i in w.watched_run_ids}

        seen = HUB.submit(bounds()).result(timeout=10)
        assert seen[slow_run.id] == 0.3
        assert seen[patient_run.id] == 5.0
    finally:
        brisk.cancel()
        patient.cancel()
        core_client.runs.cancel(patient_run.id)
