"""End to end: real Airflow services (api-server, scheduler, dag-processor, triggerer,
LocalExecutor on SQLite) run the provider's deferrable operators against the emulator."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HERE = Path(__file__).parent
AIRFLOW = Path(sys.executable).with_name("airflow")
SERVICES = ("scheduler", "dag-processor", "triggerer")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(check: Callable[[], Any], timeout: float, what: str, step: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class AirflowStack:
    """Airflow services as child processes of the test, in their own process groups."""

    def __init__(self, home: Path, env: dict[str, str], port: int) -> None:
        self.home = home
        self.env = env
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v2", timeout=10)
        self.port = port
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        subprocess.run(
            [str(AIRFLOW), "db", "migrate"], env=self.env, check=True, capture_output=True
        )
        commands = {"api-server": ["api-server", "--port", str(self.port)]}
        commands.update({name: [name] for name in SERVICES})
        for name, args in commands.items():
            log = (self.home / f"{name}.log").open("wb")
            self.procs[name] = subprocess.Popen(
                [str(AIRFLOW), *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_for(lambda: self.api.get("/monitor/health").status_code == 200, 120, "the api-server")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.api.close()

    def log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(errors="replace")

    def trigger_logs(self, dag_id: str, run_id: str, task_id: str) -> str:
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        files = sorted(folder.glob("attempt=*.log.trigger.*.log"))
        return "\n".join(path.read_text(errors="replace") for path in files)

    def trigger(self, dag_id: str) -> str:
        _wait_for(lambda: self.api.get(f"/dags/{dag_id}").status_code == 200, 120, f"DAG {dag_id}")
        self.api.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
        response = self.api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        response.raise_for_status()
        return str(response.json()["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"])

    def ti(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        response = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        response.raise_for_status()
        return dict(response.json())

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        response = self.api.get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": True},
        )
        response.raise_for_status()
        return response.json()["value"]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from cyberdesk_emulator import EmulatorServer

    export = {
        "duration": 100,
        "output": {"rows": 3, "month": "{{ inputs.month }}"},
        "files": [{"name": "tb_{{ inputs.month }}.csv", "content": "a,b\n1,2\n"}],
    }
    seed = {
        "machines": [{"name": f"desk-{i}"} for i in range(4)],
        "workflows": [
            {"id": str(uuid.uuid4()), "name": "export", "behavior": export},
            {
                "id": str(uuid.uuid4()),
                "name": "report",
                "behavior": {"duration": 50, "output": {"rows_seen": "{{ inputs.rows }}"}},
            },
            {"id": str(uuid.uuid4()), "name": "slow", "behavior": {"duration": 100_000}},
        ],
    }
    with EmulatorServer(seed=seed, time_scale=100) as server:
        server.workflow_ids = {w["name"]: w["id"] for w in seed["workflows"]}
        yield server


@pytest.fixture(scope="module")
def stack(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    home = tmp_path_factory.mktemp("airflow-e2e")
    (home / "dags").mkdir()
    shutil.copy(HERE / "dag_template.py", home / "dags" / "cyberdesk_e2e.py")
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW_CONN_CYBERDESK_DEFAULT": json.dumps(
                {"conn_type": "cyberdesk", "host": emulator.url, "password": emulator.api_key}
            ),
            "E2E_EXPORT_WORKFLOW": emulator.workflow_ids["export"],
            "E2E_REPORT_WORKFLOW": emulator.workflow_ids["report"],
            "E2E_SLOW_WORKFLOW": emulator.workflow_ids["slow"],
            "E2E_OUT_DIR": str(home / "out"),
        }
    )
    airflow_stack = AirflowStack(home, env, port)
    try:
        airflow_stack.start()
        yield airflow_stack
    finally:
        airflow_stack.stop()


def test_pipeline_runs_deferred_in_the_triggerer(stack: AirflowStack, emulator: Any) -> None:
    dag_id = "cyberdesk_e2e_pipeline"
    run_id = stack.trigger(dag_id)
    state = _wait_for(
        lambda: (s := stack.run_state(dag_id, run_id)) in ("success", "failed") and s,
        240,
        "the pipeline run",
        step=1,
    )
    assert state == "success", {
        t: stack.ti(dag_id, run_id, t)["state"] for t in ("export", "chain", "download")
    }
    assert stack.xcom(dag_id, run_id, "export", "return_value") == {"rows": 3, "month": "2026-07"}
    chain = stack.xcom(dag_id, run_id, "chain", "return_value")
    assert chain["extract"]["rows"] == 3
    assert str(chain["report"]["rows_seen"]) == "3"
    files = stack.xcom(dag_id, run_id, "download", "return_value")
    assert [f["filename"] for f in files] == ["tb_2026-07.csv"]
    assert Path(files[0]["path"].removeprefix("file://")).read_text() == "a,b\n1,2\n"
    # The deferred waits ran in the triggerer process: it wrote the per-trigger log files.
    for task_id in ("export", "chain"):
        trigger_logs = stack.trigger_logs(dag_id, run_id, task_id)
        assert "Trigger fired event" in trigger_logs, (task_id, trigger_logs[-2000:])
        assert "[success]" in trigger_logs
    export_run = stack.xcom(dag_id, run_id, "export", "run_id")
    assert stack.xcom(dag_id, run_id, "export", "run_url").endswith(export_run)


def test_marking_deferred_task_failed_cancels_the_run(stack: AirflowStack, emulator: Any) -> None:
    dag_id = "cyberdesk_e2e_kill"
    run_id = stack.trigger(dag_id)
    _wait_for(
        lambda: stack.ti(dag_id, run_id, "long_run")["state"] == "deferred",
        180,
        "the task to defer",
        step=1,
    )
    cyberdesk_run = stack.xcom(dag_id, run_id, "long_run", "run_id")
    # Airflow calls a trigger's on_kill only once the triggerer runs it; a task killed before the
    # triggerer picked its trigger up keeps its run until the deadline (see docs/airflow.md).
    _wait_for(
        lambda: "starting" in stack.trigger_logs(dag_id, run_id, "long_run"),
        120,
        "the triggerer to start the trigger",
        step=1,
    )
    assert emulator.admin.run_state(cyberdesk_run)["run"]["status"] in ("scheduling", "running")
    response = stack.api.patch(
        f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/long_run", json={"new_state": "failed"}
    )
    response.raise_for_status()
    _wait_for(
        lambda: emulator.admin.run_state(cyberdesk_run)["run"]["status"] == "cancelled",
        90,
        "the Cyberdesk run to be cancelled",
        step=1,
    )
    assert not emulator.admin.run_state(cyberdesk_run)["executing"]
