"""Configuration of the distributed Prefect installation: ids, emulator seed, and the environment
of the test process and of every service.

Prefect reads its settings when first imported, so importing this module (every module of the
suite does, before Prefect) points this process at the server the session will start: its
temp folder and port are chosen here, once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import dist_prefect_paths  # noqa: F401  (puts tests/e2e/airflow on sys.path)
from airflow_canary import RELIABILITY_SUPPORT, load_module_at
from dist_prefect_stack import MARKER

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
FLOWS_DIR = HERE / "flows"
EXAMPLES_DIR = REPO / "example_dags" / "prefect"
EXAMPLE_SEED = REPO / "example_dags" / "emulator_seed.yaml"
SERVICES = HERE.parent / "services.py"

POOL = "cyberdesk-dist-pool"
WORKERS = ("dist-worker-1", "dist-worker-2")
CREDENTIALS_BLOCK = "dist-cyberdesk"
#: Simulated seconds per real second: the flagship's three-step chain takes about 5 s.
TIME_SCALE = 50.0
#: Enough simulated desktops for the 200 mapped runs plus every other test's runs at once.
MACHINES = 250
MAPPED = "dist-mapped-cyberdesk-runs/mapped"
FLAGSHIP = "monthly-financial-reporting/monthly-close"
CANARY = "dist-mapped-cyberdesk-runs/canary"

#: Workflows of the tests: "hold" runs execute until the test finishes them through the admin
#: API (so waiting windows and kill points do not depend on timing); each test has its own, so
#: one test's listing never contains another's runs.
FAST_WORKFLOW = "d1d1d1d1-0000-4000-8000-000000000001"
HOLD_MAPPED = "d1d1d1d1-0000-4000-8000-000000000002"
HOLD_CANCEL = "d1d1d1d1-0000-4000-8000-000000000003"
HOLD_CRASH = "d1d1d1d1-0000-4000-8000-000000000004"
HOLD = 10_000_000


def seed() -> dict[str, Any]:
    """The example seed (the flagship's workflows and pools) plus the tests' workflows and
    `MACHINES` desktops in no pool."""
    import yaml

    data: dict[str, Any] = yaml.safe_load(EXAMPLE_SEED.read_text(encoding="utf-8"))
    echo = {"i": "{{ inputs.i }}"}
    data["workflows"] += [
        {"id": FAST_WORKFLOW, "name": "dist fast", "behavior": {"duration": 5, "output": echo}},
        *(
            {"id": wf, "name": f"dist hold {n}", "behavior": {"duration": HOLD, "output": echo}}
            for n, wf in enumerate((HOLD_MAPPED, HOLD_CANCEL, HOLD_CRASH))
        ),
    ]
    data["machines"] += [{"name": f"dist-desk-{i:03d}"} for i in range(MACHINES)]
    return data


def _prepare_test_process(root: Path, port: int) -> None:
    """Point this process's Prefect at the server the session will start on `port`."""
    for name in [n for n in os.environ if n.startswith("PREFECT_")]:
        del os.environ[name]
    os.environ.pop("CYBERDESK_API_KEY", None)
    os.environ.pop("CYBERDESK_BASE_URL", None)
    home = root / "test-process"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )


def service_env(root: Path, port: int, database_url: str) -> dict[str, str]:
    """Environment of the server and the workers (and so of every flow-run process)."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "CYBERDESK_", "AIRFLOW"))
    }
    return {
        **inherited,
        MARKER: uuid.uuid4().hex,
        "PREFECT_HOME": str(root / "services"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_LEVEL": "INFO",
        # Services with nothing to do here (no automations, no pauses; schedules are off by
        # `--no-scheduler`) stay off to leave the 2 cores to the ones under test.
        "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
        # Workers look for new and cancelled flow runs every second.
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }


def remove_root(root: Path) -> None:
    """Remove the installation's temp folder."""
    shutil.rmtree(root, ignore_errors=True)


def reliability_support() -> ModuleType:
    """The reliability suites' shared helpers (canaries, file search, duplicate creates)."""
    return load_module_at("reliability_support", RELIABILITY_SUPPORT)


def services() -> ModuleType:
    """The distributed suites' PostgreSQL and Redis starters (`tests/e2e/distributed`)."""
    return load_module_at("services", SERVICES)


#: Temp folder of the whole installation (homes, logs, downloads) and the server's port.
ROOT = Path(tempfile.mkdtemp(prefix="cyberdesk-dist-prefect-"))
PORT: int = services().free_port()
_prepare_test_process(ROOT, PORT)
