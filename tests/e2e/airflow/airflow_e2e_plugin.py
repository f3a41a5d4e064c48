"""pytest plugin of the Airflow end-to-end tests (test modules load it with ``pytest_plugins``).

Fixtures: one emulator in this process (request log in a file) and one real Airflow installation
(api-server, scheduler, dag-processor, triggerer; LocalExecutor on SQLite) for the whole session,
with ``cyberdesk_default`` pointing at the emulator and the secrets canary's random literal
secrets in every service's environment.

The test process never imports Airflow: it drives the services through the REST API and checks
outcomes in the emulator, so it cannot disturb (or be disturbed by) other Airflow test harnesses.
It is a plugin rather than a ``conftest.py`` because other test folders import helpers with
``from conftest import ...``, which a second top-level ``conftest`` module would shadow.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from airflow_api import AirflowApi
from airflow_canary import SECRETS_ENV, SessionSecrets, new_session_secrets
from airflow_env import airflow_env, free_port
from airflow_stack import AirflowStack

from cyberdesk_core import CyberdeskClient
from cyberdesk_emulator import EmulatorServer
from cyberdesk_emulator.runtime import DEFAULT_ORG_ID

DAGS_FOLDER = Path(__file__).parent / "dags"
#: Simulated seconds per real second in the emulator.
TIME_SCALE = 10.0
#: Enough machines for the 20 mapped runs plus the other tests' runs at the same time.
MACHINES = 32

_SUMMARY = pytest.StashKey[dict[str, Any]]()


@pytest.fixture(scope="session")
def e2e_emulator_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """File receiving the emulator's request log."""
    return tmp_path_factory.mktemp("emulator-log") / "emulator.log"


def emulator_server(log_path: Path, machines: int) -> EmulatorServer:
    """An emulator (not started yet) with ``machines`` simulated machines and a fast clock."""
    seed = {"machines": [{"name": f"e2e-desk-{index:03d}"} for index in range(machines)]}
    return EmulatorServer(seed=seed, time_scale=TIME_SCALE, log_path=log_path)


@pytest.fixture(scope="session")
def e2e_emulator(e2e_emulator_log: Path) -> Iterator[EmulatorServer]:
    """The emulator the Airflow services talk to (loopback, free port, fast clock)."""
    with emulator_server(e2e_emulator_log, MACHINES) as server:
        yield server


@pytest.fixture(scope="session")
def e2e_canary_secrets() -> SessionSecrets:
    """Random literal secrets the canary DAG reads from the services' environment."""
    return new_session_secrets()


@pytest.fixture(scope="session")
def emulator_client(e2e_emulator: EmulatorServer) -> Iterator[CyberdeskClient]:
    """A core client for setting up and checking emulator state."""
    with CyberdeskClient(e2e_emulator.api_key, base_url=e2e_emulator.url) as client:
        yield client


@pytest.fixture(scope="session")
def make_workflow(e2e_emulator: EmulatorServer) -> Callable[[str, dict[str, Any]], str]:
    """``make_workflow(name, behavior)`` -> id of a new emulator workflow."""

    def make(name: str, behavior: dict[str, Any]) -> str:
        unique = f"{name}-{uuid.uuid4().hex[:8]}"
        created = e2e_emulator.admin.seed({"workflows": [{"name": unique, "behavior": behavior}]})
        return str(created[DEFAULT_ORG_ID]["workflows"][unique])

    return make


def e2e_env(
    home: Path, dags_folder: Path, api_port: int, emulator: EmulatorServer, secrets: SessionSecrets
) -> dict[str, str]:
    """The services' environment (``airflow_env``): ``cyberdesk_default`` points at the
    emulator, the canary DAG's literal secrets are set."""
    connection = {"conn_type": "cyberdesk", "host": emulator.url, "password": emulator.api_key}
    env = airflow_env(
        home=home,
        dags_folder=dags_folder,
        api_port=api_port,
        stack_id=uuid.uuid4().hex,
        connections={"cyberdesk_default": json.dumps(connection)},
    )
    env[SECRETS_ENV] = json.dumps(secrets.values)
    return env


@contextmanager
def running_stack(stack: AirflowStack, config: pytest.Config) -> Iterator[AirflowStack]:
    """Migrate, start and (at exit, whatever happened) stop ``stack``, then assert that none of
    its processes is left; start-up times and peak memory go to the terminal summary."""
    summary = config.stash.setdefault(_SUMMARY, {})
    summary["home"] = str(stack.home)
    started = time.monotonic()
    try:
        stack.migrate()
        summary["migrate_s"] = round(time.monotonic() - started, 1)
        stack.start_all()
        summary["healthy_s"] = round(time.monotonic() - started, 1)
        yield stack
    finally:
        leftovers = stack.stop()
        summary["peak_rss_mib"] = stack.memory.rss // 2**20
        summary["peak_pss_mib"] = stack.memory.pss // 2**20
        summary["peak_processes"] = stack.memory.processes
        summary["leftover_processes"] = len(leftovers)
    assert not leftovers, f"Airflow processes survived teardown: {leftovers}"


@pytest.fixture(scope="session")
def airflow_stack(
    e2e_emulator: EmulatorServer,
    e2e_canary_secrets: SessionSecrets,
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[AirflowStack]:
    """Migrated metadata DB and the four services, healthy; everything killed afterwards."""
    home = tmp_path_factory.mktemp("airflow-e2e-home")
    port = free_port()
    env = e2e_env(home, DAGS_FOLDER, port, e2e_emulator, e2e_canary_secrets)
    with running_stack(AirflowStack(home=home, env=env, api_port=port), pytestconfig) as stack:
        yield stack


@pytest.fixture(scope="session")
def e2e_metrics(pytestconfig: pytest.Config) -> dict[str, float]:
    """Measurements the tests report (printed in the terminal summary), e.g. cancel latency."""
    metrics: dict[str, float] = {}
    pytestconfig.stash.setdefault(_SUMMARY, {})["measured"] = metrics
    return metrics


@pytest.fixture(scope="session")
def airflow_api(airflow_stack: AirflowStack) -> Iterator[AirflowApi]:
    """REST client of the running api-server."""
    api = AirflowApi(airflow_stack.api_url)
    yield api
    api.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the tails of the service logs to a failing end-to-end test's report."""
    report = yield
    if report.failed:
        stack = getattr(item, "funcargs", {}).get("airflow_stack")
        if isinstance(stack, AirflowStack):
            report.sections.append(("Airflow service logs (tails)", stack.log_tails()))
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print start-up time, peak memory and teardown result of the Airflow stack."""
    summary = config.stash.get(_SUMMARY, None)
    if summary:
        terminalreporter.write_line(f"airflow e2e stack: {json.dumps(summary)}")
