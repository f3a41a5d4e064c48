"""Configuration of the end-to-end Airflow installation, passed to every service as environment
variables: SQLite + LocalExecutor, fast scheduling loops, all-admin API access, connections."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet

#: Environment variable every process of one stack carries (value: the stack's id).
MARKER = "CYBERDESK_E2E_STACK_ID"


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(
    *,
    home: Path,
    dags_folder: Path,
    api_port: int,
    stack_id: str,
    connections: Mapping[str, str],
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment of every service: SQLite + LocalExecutor, fast loops, all-admin API access.

    Any ``AIRFLOW*`` variable of the calling process (another test harness may have set some) is
    dropped so the services see only this configuration.
    """
    inherited = {k: v for k, v in (base or os.environ).items() if not k.startswith("AIRFLOW")}
    api_url = f"http://127.0.0.1:{api_port}"
    env = {
        **inherited,
        MARKER: stack_id,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        # Every request is an admin: the tests drive the REST API without logging in.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "False",
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        # Scheduler and api-server must agree on the key that signs task tokens.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        # A crashed triggerer's triggers move to a live one once its heartbeat is this old.
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
        # The task supervisor notices its child's exit within this many seconds. A trigger that
        # fires before the scheduler has seen the deferral's exit hits an Airflow race that fails
        # the resumed task (apache/airflow#67287, not fixed in 3.3.2); a short interval keeps that
        # window well below the runs' durations.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    for conn_id, value in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = value
    return env
