"""Fixtures for the core unit tests: a fake API, a fake clock and clients over MockTransport."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from core_fakes import API_KEY, BASE_URL, FakeAPI, FakeClock
from watcher_sim import SimServer

from cyberdesk_core import AsyncCyberdeskClient, CyberdeskClient


@pytest.fixture
def api() -> FakeAPI:
    return FakeAPI()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(api: FakeAPI, sleeps: list[float]) -> Iterator[CyberdeskClient]:
    with CyberdeskClient(
        API_KEY,
        base_url=BASE_URL,
        transport=httpx.MockTransport(api),
        sleep=sleeps.append,
        rng=lambda: 0.5,
    ) as c:
        yield c


@pytest.fixture
def aclient(api: FakeAPI, sleeps: list[float]) -> AsyncCyberdeskClient:
    # Built synchronously: the MockTransport does no real I/O, so the client is not tied to the
    # event loop of any fixture and can be used from each test's own loop.
    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    return AsyncCyberdeskClient(
        API_KEY,
        base_url=BASE_URL,
        transport=httpx.MockTransport(api),
        sleep=record,
        rng=lambda: 0.5,
    )


@pytest.fixture
def sim(clock: FakeClock) -> SimServer:
    return SimServer(clock)


@pytest.fixture
def sim_client(sim: SimServer) -> AsyncCyberdeskClient:
    return AsyncCyberdeskClient(
        "k", base_url="https://sim", transport=httpx.MockTransport(sim), max_retries=0
    )
