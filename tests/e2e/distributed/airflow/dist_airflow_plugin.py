"""pytest plugin of the distributed Airflow tests (``pytest_plugins = ["dist_airflow_plugin"]``).

Session fixtures: PostgreSQL and Redis (``services``), an emulator with enough simulated machines
for 200 concurrent runs, and the production-shaped stack (``dist_airflow_stack``) with
``cyberdesk_default`` pointing at the emulator. The other fixtures and the report hooks are the
single-machine suite's (``airflow_e2e_plugin``), imported by name so pytest registers them here.
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from pathlib import Path

import dist_paths  # noqa: F401  (puts the shared helpers on sys.path)
import pytest
from airflow_canary import SessionSecrets
from airflow_e2e_plugin import DAGS_FOLDER as SINGLE_MACHINE_DAGS
from airflow_e2e_plugin import (
    airflow_api,
    e2e_canary_secrets,
    e2e_emulator_log,
    e2e_env,
    e2e_metrics,
    emulator_client,
    emulator_server,
    make_workflow,
    pytest_runtest_makereport,
    pytest_terminal_summary,
    running_stack,
)
from airflow_env import free_port
from dist_airflow_stack import DATABASE, DistributedAirflowStack, celery_env
from services import PostgresServer, RedisServer, postgres_server, redis_server

from cyberdesk_emulator import EmulatorServer

DAGS = Path(__file__).parent / "dags"
#: DAG files of the single-machine suite this suite runs too (the secrets canary's DAG).
SHARED_DAGS = ("e2e_cyberdesk_canary.py",)
#: 200 mapped runs, a chain, a bulk batch and the other tests' runs at the same time.
MACHINES = 250

#: Fixtures and hooks imported from other modules: listed so pytest (and linters) see them used.
__all__ = [
    "airflow_api",
    "e2e_canary_secrets",
    "e2e_emulator_log",
    "e2e_metrics",
    "emulator_client",
    "make_workflow",
    "postgres_server",
    "pytest_runtest_makereport",
    "pytest_terminal_summary",
    "redis_server",
]


@pytest.fixture(scope="session")
def e2e_emulator(e2e_emulator_log: Path) -> Iterator[EmulatorServer]:
    """The emulator the Airflow services talk to (loopback, free port, fast clock)."""
    with emulator_server(e2e_emulator_log, MACHINES) as server:
        yield server


@pytest.fixture(scope="session")
def dags_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This suite's DAG files and the shared ones, linked into one folder."""
    folder = tmp_path_factory.mktemp("dist-dags")
    for path in [*DAGS.glob("*.py"), *(SINGLE_MACHINE_DAGS / name for name in SHARED_DAGS)]:
        (folder / path.name).symlink_to(path)
    return folder


@pytest.fixture(scope="session")
def airflow_stack(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    e2e_emulator: EmulatorServer,
    e2e_canary_secrets: SessionSecrets,
    dags_folder: Path,
    e2e_metrics: dict[str, float],
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[DistributedAirflowStack]:
    """The distributed stack, healthy; every process killed and checked gone afterwards."""
    postgres_server.create_database(DATABASE)
    home = tmp_path_factory.mktemp("airflow-dist-home")
    port = free_port()
    base = e2e_env(home, dags_folder, port, e2e_emulator, e2e_canary_secrets)
    env = celery_env(base, postgres_server, redis_server)
    stack = DistributedAirflowStack(
        home=home, env=env, api_port=port, postgres=postgres_server, redis=redis_server
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with running_stack(stack, pytestconfig):
        yield stack
    # CPU of the Airflow processes (reaped once stopped): with 2 cores, the wall time an idle
    # machine needs is at least half of it.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    e2e_metrics["airflow_services_cpu_s"] = round(used, 1)
