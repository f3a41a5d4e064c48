"""wait_for_run / await_run / raise_for_run_status with an injected clock and sleep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from core_fakes import T0, FakeAPI, FakeClock, run_json
from hypothesis import given, settings
from hypothesis import strategies as st

from cyberdesk_core import (
    AsyncCyberdeskClient,
    AuthenticationError,
    ConfigurationError,
    CyberdeskClient,
    NotFoundError,
    PermissionDeniedError,
    Run,
    RunCancelledError,
    RunFailedError,
    RunStatus,
    RunTimeoutError,
    ValidationError,
    raise_for_run_status,
)
from cyberdesk_core.waiting import await_run, wait_for_run

PATH = "/v1/runs/run-1"


def ok(status: str, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json=run_json(status=status, **extra))


def err(status: int) -> httpx.Response:
    return httpx.Response(status, json={"detail": "x"})


def wait(client: CyberdeskClient, clock: FakeClock, **kw: Any) -> Run:
    return wait_for_run(client, "run-1", sleep=clock.sleep, clock=clock, **kw)


def test_walks_every_status_until_success(
    api: FakeAPI, client: CyberdeskClient, clock: FakeClock
) -> None:
    api.queue(
        "GET",
        PATH,
        ok("scheduling"),
        ok("running"),
        ok("running"),
        ok("running_checks"),
        ok("success", output_data={"total": 3}),
    )
    seen: list[str] = []
    run = wait(client, clock, on_status_change=lambda r: seen.append(r.status.value))
    assert run.status is RunStatus.SUCCESS
    assert run.output_data == {"total": 3}
    assert seen == ["scheduling", "running", "running_checks", "success"]
    assert api.count("GET", PATH) == 5


def test_running_checks_is_not_terminal(
    api: FakeAPI, client: CyberdeskClient, clock: FakeClock
) -> None:
    api.queue("GET", PATH, *[ok("running_checks")] * 3, ok("task_failed", error=["no file"]))
    with pytest.raises(RunFailedError, match=r"task_failed.*no file"):
        wait(client, clock)
    assert api.count("GET", PATH) == 4


def test_backoff_grows_to_cap_and_resets_on_change(
    api: FakeAPI, client: CyberdeskClient, clock: FakeClock
) -> None:
    api.queue("GET", PATH, *[ok("running")] * 6, ok("running_checks"), ok("success"))
    wait(client, clock, poll_interval=2.0, max_poll_interval=5.0)
    assert clock.sleeps == [2.0, 3.0, 4.5, 5.0, 5.0, 5.0, 2.0]


def test_unknown_status_keeps_waiting(
    api: FakeAPI, client: CyberdeskClient, clock: FakeClock
) -> None:
    api.queue("GET", PATH, ok("quantum_superposition"), ok("quantum_superposition"), ok("success"))
    seen: list[Run] = []
    run = wait(client, clock, on_status_change=seen.append)
    assert run.status is RunStatus.SUCCESS
    assert [r.status.is_known for r in seen] == [False, True]


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [("error", RunFailedError), ("task_failed", RunFailedError), ("cancelled", RunCancelledError)],
)
def test_failed_terminal_raises_or_returns(
    status: str, exc_type: type[Exception], api: FakeAPI, client: CyberdeskClient, clock: FakeClock
) -> None:
    api.queue("GET", PATH, ok(status, error=["Machine went away", "retry later"]))
    with pytest.raises(exc_type) as info:
        wait(client, clock)
    assert info.value.run.status.value == status  # type: ignore[attr-defined]
    assert info.value.run_id == "run-1"  # type: ignore[attr-defined]
    if status != "cancelled":
        assert "Machine went away; retry later" in str(info.value)
    assert wait(client, clock, raise_on_failure=False).status.value == status


def test_deadline_raises_timeout_with_last_run(
    api: FakeAPI, client: CyberdeskClient, clock: FakeClock
) -> None:
    api.queue("GET", PATH, ok("running"))
    with pytest.raises(RunTimeoutError, match=r"did not finish") as info:
        wait(client, clock, poll_interval=4.0, max_poll_interval=4.0, timeout=10.0)
    assert info.value.run is not None
    assert info.value.run.status is RunStatus.RUNNING
    # Sleeps are clamped so the last read happens exactly at the deadline.
    assert clock.sleeps == [4.0, 4.0, 2.0]
    assert clock.now == T0 + timedelta(seconds=10)
    assert api.count("GET", PATH) == 4


def test_absolute_deadline_and_earlier_of_both(
    api: FakeAPI, client: CyberdeskClient, clock: FakeClock
) -> None:
    api.queue("GET", PATH, ok("running"))
    with pytest.raises(RunTimeoutError):
        wait(
            client, clock, timeout=100.0, deadline=(T0 + timedelta(seconds=3)).replace(tzinfo=None)
        )
    assert clock.now == T0 + timedelta(seconds=3)


def test_timeout_before_first_read_has_no_run(
    api: FakeAPI, client: CyberdeskClient, clock: FakeClock
) -> None:
    api.queue("GET", PATH, err(503))
    with pytest.raises(RunTimeoutError, match=r"never read") as info:
        wait(client, clock, timeout=5.0)
    assert info.value.run is None
    assert info.value.run_id == "run-1"


def test_transient_errors_polled_through(
    api: FakeAPI, client: CyberdeskClient, clock: FakeClock, sleeps: list[float]
) -> None:
    api.queue(
        "GET",
        PATH,
        *[err(503)] * 4,  # one logical read: 4 attempts inside the transport
        httpx.ConnectError("down"),
        httpx.ConnectError("down"),
        httpx.ConnectError("down"),
        httpx.ConnectError("down"),
        *[err(429)] * 4,
        ok("success"),
    )
    assert wait(client, clock).status is RunStatus.SUCCESS
    assert len(sleeps) == 9  # transport backoff sleeps, not the wait loop's


def test_404_right_after_creation_is_tolerated(
    api: FakeAPI, client: CyberdeskClient, clock: FakeClock
) -> None:
    api.queue("GET", PATH, err(404), err(404), ok("running"), ok("success"))
    assert wait(client, clock).status is RunStatus.SUCCESS


def test_404_beyond_grace_raises(api: FakeAPI, client: CyberdeskClient, clock: FakeClock) -> None:
    api.queue("GET", PATH, err(404))
    with pytest.raises(NotFoundError, match=r"run run-1"):
        wait(client, clock, poll_interval=10.0, max_poll_interval=10.0)
    assert clock.now - T0 >= timedelta(seconds=30)


def test_404_after_seen_raises_at_once(
    api: FakeAPI, client: CyberdeskClient, clock: FakeClock
) -> None:
    api.queue("GET", PATH, ok("running"), err(404))
    with pytest.raises(NotFoundError):
        wait(client, clock)
    assert api.count("GET", PATH) == 2


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [(401, AuthenticationError), (403, PermissionDeniedError), (422, ValidationError)],
)
def test_permanent_errors_raise(
    status: int, exc_type: type[Exception], api: FakeAPI, client: CyberdeskClient, clock: FakeClock
) -> None:
    api.queue("GET", PATH, err(status))
    with pytest.raises(exc_type):
        wait(client, clock)
    assert api.count("GET", PATH) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "kwargs",
    [{"poll_interval": 0}, {"timeout": -1}, {"poll_interval": 10, "max_poll_interval": 5}],
)
def test_bad_settings(kwargs: dict[str, float], client: CyberdeskClient, clock: FakeClock) -> None:
    with pytest.raises(ConfigurationError):
        wait(client, clock, **kwargs)


def test_raise_for_run_status() -> None:
    def run(status: str, **extra: Any) -> Run:
        return Run.model_validate(run_json(status=status, **extra))

    ok_run = run("success")
    assert raise_for_run_status(ok_run) is ok_run
    for status in ("scheduling", "running", "running_checks", "mystery_status"):
        assert raise_for_run_status(run(status)).status.value == status
    with pytest.raises(RunFailedError, match=r"no error details"):
        raise_for_run_status(run("error"))
    with pytest.raises(RunFailedError, match=r"declared the task failed.*bad invoice"):
        raise_for_run_status(run("task_failed", error=["bad invoice"]))
    with pytest.raises(RunCancelledError, match=r"cancelled"):
        raise_for_run_status(run("cancelled"))


async def test_await_run_async_callback(
    api: FakeAPI, aclient: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    api.queue("GET", PATH, err(404), ok("scheduling"), ok("running_checks"), ok("success"))
    seen: list[str] = []

    async def on_change(run: Run) -> None:
        seen.append(run.status.value)

    run = await await_run(
        aclient, "run-1", sleep=clock.asleep, clock=clock, on_status_change=on_change
    )
    assert run.status is RunStatus.SUCCESS
    assert seen == ["scheduling", "running_checks", "success"]


async def test_await_run_timeout_and_failure(
    api: FakeAPI, aclient: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    api.queue("GET", PATH, ok("running"))
    with pytest.raises(RunTimeoutError):
        await await_run(aclient, "run-1", sleep=clock.asleep, clock=clock, timeout=12)
    api.queues.clear()
    api.queue("GET", PATH, ok("cancelled"))
    with pytest.raises(RunCancelledError):
        await await_run(aclient, "run-1", sleep=clock.asleep, clock=clock)
    run = await await_run(aclient, "run-1", sleep=clock.asleep, clock=clock, raise_on_failure=False)
    assert run.status is RunStatus.CANCELLED


async def test_await_run_permanent_error(
    api: FakeAPI, aclient: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    api.queue("GET", PATH, err(401))
    with pytest.raises(AuthenticationError):
        await await_run(aclient, "run-1", sleep=clock.asleep, clock=clock)


STATUSES = [
    "scheduling",
    "running",
    "running_checks",
    "weird_new_status",
    "success",
    "error",
    "task_failed",
    "cancelled",
    "HTTP503",
    "HTTP404",
]


@settings(max_examples=60, deadline=None)
@given(
    sequence=st.lists(st.sampled_from(STATUSES), min_size=1, max_size=12),
    timeout=st.floats(min_value=1.0, max_value=200.0),
)
def test_wait_properties(sequence: list[str], timeout: float) -> None:
    """Whatever the server says, the wait ends with the first terminal status or a timeout,
    never reads past a terminal status, and never sleeps past the deadline."""
    api = FakeAPI()
    clock = FakeClock()
    responses: list[httpx.Response] = []
    for item in sequence:
        if item.startswith("HTTP"):
            responses.append(err(int(item[4:])))
        else:
            responses.append(ok(item))
    responses.append(ok("running"))  # the run stays active after the scripted prefix
    api.queue("GET", PATH, *responses)
    with CyberdeskClient(
        "k", base_url="https://x", transport=httpx.MockTransport(api), max_retries=0
    ) as client:
        outcome: Run | RunTimeoutError | NotFoundError
        try:
            outcome = wait_for_run(
                client,
                "run-1",
                sleep=clock.sleep,
                clock=clock,
                timeout=timeout,
                poll_interval=1.0,
                max_poll_interval=8.0,
                raise_on_failure=False,
            )
        except (RunTimeoutError, NotFoundError) as exc:
            outcome = exc
    terminal = {"success", "error", "task_failed", "cancelled"}
    reads = sequence[: len(api.requests)]
    elapsed = clock.now - T0
    assert elapsed <= timedelta(seconds=timeout)
    if isinstance(outcome, RunTimeoutError):
        assert not any(s in terminal for s in reads)
        assert elapsed >= timedelta(seconds=timeout) - timedelta(microseconds=1)
        assert outcome.run is None or not outcome.run.status.is_terminal
    elif isinstance(outcome, NotFoundError):
        assert reads[-1] == "HTTP404"
    else:
        first = next(s for s in sequence if s in terminal)
        assert outcome.status.value == first
        assert reads[-1] == first
