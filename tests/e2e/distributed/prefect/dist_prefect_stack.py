"""A production-shaped Prefect installation as child processes: `prefect server start` and
`process` workers polling one work pool.

The process handling is the single-machine Airflow e2e stack's (`tests/e2e/airflow`): each
service in its own process group with its output in a log file, and a marker environment
variable that every process of the stack inherits (flow-run processes included), so teardown
finds what a worker started and proves by PID that nothing is left.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import dist_prefect_paths  # noqa: F401  (puts tests/e2e/airflow on sys.path)
import httpx
import psutil
from airflow_env import MARKER
from airflow_stack import AirflowStack, poll_until

__all__ = ["MARKER", "PrefectStack", "poll_until"]

PREFECT = Path(sys.executable).with_name("prefect")
SERVER_TIMEOUT = 120.0


@dataclass
class PrefectStack(AirflowStack):
    """The server and workers of one Prefect installation (`api_port`: the server's port)."""

    program: ClassVar[Path] = PREFECT
    pool: str = "default"

    @property
    def api_url(self) -> str:
        """`PREFECT_API_URL` of the server."""
        return f"http://127.0.0.1:{self.api_port}/api"

    @property
    def log_dir(self) -> Path:
        """Folder of every service's log file."""
        return self.home / "service-logs"

    def start_server(self) -> None:
        """`prefect server start` (API only, no UI or schedules); returns once it is healthy."""
        self.start(
            "server",
            [
                *("server", "start", "--host", "127.0.0.1", "--port", str(self.api_port)),
                *("--no-ui", "--no-scheduler", "--analytics-off"),
            ],
        )

        def healthy() -> bool:
            self.assert_running()
            return httpx.get(f"{self.api_url}/health", timeout=5).status_code == 200

        poll_until(healthy, timeout=SERVER_TIMEOUT, what="the Prefect server")

    def start_worker(self, name: str) -> None:
        """`prefect worker start --type process` on the stack's pool (does not wait)."""
        self.start(
            name,
            [
                *("worker", "start", "--pool", self.pool, "--type", "process", "--name", name),
                *("--install-policy", "never", "--no-create-pool-if-not-found"),
            ],
        )

    def wait_workers_online(self, names: list[str], timeout: float = 60.0) -> None:
        """Wait until the server lists every worker in `names` as ONLINE for the pool."""

        def online() -> bool:
            self.assert_running()
            response = httpx.post(
                f"{self.api_url}/work_pools/{self.pool}/workers/filter", json={}, timeout=5
            )
            response.raise_for_status()
            up = {w["name"] for w in response.json() if w.get("status") == "ONLINE"}
            return set(names) <= up

        poll_until(online, timeout=timeout, what=f"workers {names} online")

    def flow_run_processes(self, flow_run_id: object) -> list[psutil.Process]:
        """Live processes of the stack that execute the flow run (its flow-run process)."""
        found = []
        for proc in self.processes():
            try:
                if proc.environ().get("PREFECT__FLOW_RUN_ID") == str(flow_run_id):
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def worker_of(self, flow_run_id: object) -> str | None:
        """Name of the running worker whose process tree executes the flow run, if any."""
        runners = {proc.pid for proc in self.flow_run_processes(flow_run_id)}
        for service in self.services.values():
            try:
                tree = psutil.Process(service.process.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            if runners & {proc.pid for proc in tree}:
                return service.name
        return None

    def logs(self) -> dict[str, str]:
        """`{file name: text}` of every service log (all starts, the crashed ones included)."""
        return {
            path.name: path.read_text(errors="replace")
            for path in sorted(self.log_dir.glob("*.log"))
        }
