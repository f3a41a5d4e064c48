"""pytest plugin of the distributed Prefect tests (test modules load it with `pytest_plugins`).

One installation for the session, started piece by piece (the machine has two cores): a real
PostgreSQL (`services.py`), `prefect server start` on it, a `process` work pool with two
`prefect worker start` processes, the mapped flow and the flagship deployed from their local
folders, and one emulator in this process. Everything is stopped by PID afterwards, also when
a test fails or on Ctrl-C (and on SIGTERM, turned into KeyboardInterrupt so teardown runs).

It is a plugin rather than a `conftest.py` because other test folders import helpers with
`from conftest import ...`, which a second top-level `conftest` module would shadow.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest
from dist_prefect_env import (
    CREDENTIALS_BLOCK,
    POOL,
    PORT,
    ROOT,
    TIME_SCALE,
    WORKERS,
    remove_root,
    seed,
    service_env,
    services,
)
from dist_prefect_stack import PrefectStack

DATABASE = "prefect"
_FIGURES = pytest.StashKey[dict[str, float]]()


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def dist_postgres() -> Iterator[Any]:
    """PostgreSQL holding the Prefect database (`services.PostgresServer`)."""
    server = services().PostgresServer()
    try:
        server.start()
        server.create_database(DATABASE)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dist_emulator() -> Iterator[Any]:
    """The emulator the flow runs talk to: the example seed, 250 desktops, a fast clock."""
    from cyberdesk_emulator import EmulatorServer

    log = ROOT / "emulator.log"
    with EmulatorServer(seed=seed(), time_scale=TIME_SCALE, log_path=log) as server:
        yield server


@pytest.fixture(scope="session")
def dist_stack(
    request: pytest.FixtureRequest, dist_postgres: Any, dist_emulator: Any
) -> Iterator[PrefectStack]:
    """Server on PostgreSQL, work pool, two workers, deployments; torn down by PID."""
    import dist_prefect_api as api

    from cyberdesk_prefect import CyberdeskCredentials

    previous = signal.signal(signal.SIGTERM, _sigterm)
    url = dist_postgres.url(DATABASE, scheme="postgresql+asyncpg")
    stack = PrefectStack(home=ROOT, env=service_env(ROOT, PORT, url), api_port=PORT, pool=POOL)
    figures = request.config.stash.setdefault(_FIGURES, {})
    try:
        started = time.monotonic()
        stack.start_server()
        figures["server start (s)"] = time.monotonic() - started
        api.create_pool()
        CyberdeskCredentials(api_key=dist_emulator.api_key, base_url=dist_emulator.url).save(
            CREDENTIALS_BLOCK, overwrite=True
        )
        # One heavy process at a time: the next starts once the previous is online.
        for name in WORKERS:
            stack.start_worker(name)
            stack.wait_workers_online([name])
        api.deploy_flows(
            {
                "CYBERDESK_CREDENTIALS_BLOCK": CREDENTIALS_BLOCK,
                "CYBERDESK_POLL_INTERVAL": "0.5",
                "CYBERDESK_EXAMPLES_STORAGE": str(ROOT / "examples-storage"),
            }
        )
        figures["stack ready (s)"] = time.monotonic() - started
        yield stack
    finally:
        leftovers = stack.stop()
        signal.signal(signal.SIGTERM, previous)
        assert not leftovers, f"processes of the Prefect stack still running: {leftovers}"


@pytest.fixture
def two_workers(dist_stack: PrefectStack) -> PrefectStack:
    """Both workers running (a test before may have killed one); fails with the logs if not."""
    for name in WORKERS:
        if name not in dist_stack.services:
            dist_stack.start_worker(name)
            dist_stack.wait_workers_online([name])
    dist_stack.assert_running()
    return dist_stack


@pytest.fixture
def admin(dist_emulator: Any) -> Any:
    """The emulator's admin client, counters zeroed for the test."""
    dist_emulator.admin.reset_stats()
    return dist_emulator.admin


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str, float], None]:
    """`figure(name, value)` keeps a measured figure for the end-of-session summary."""

    def keep(name: str, value: float) -> None:
        request.config.stash.setdefault(_FIGURES, {})[name] = value

    return keep


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the figures the tests measured."""
    figures = config.stash.get(_FIGURES, {})
    if figures:
        terminalreporter.section("distributed Prefect figures")
        for name, value in figures.items():
            terminalreporter.write_line(f"{name}: {value:.2f}")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the installation's temp folder."""
    remove_root(ROOT)
