"""A small client of the Airflow 3 public REST API (``/api/v2``) for the end-to-end tests.

The api-server runs with ``simple_auth_manager_all_admins``, so requests need no token.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx
from airflow_stack import poll_until

FINISHED_RUN_STATES = frozenset({"success", "failed"})
#: Page size of list requests (the api-server's default maximum).
PAGE = 100


class AirflowApi:
    """Typed helpers over the endpoints the tests use."""

    def __init__(self, api_url: str) -> None:
        self._http = httpx.Client(base_url=f"{api_url}/api/v2", timeout=30)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise AssertionError(
                f"{method} {path} -> {response.status_code}: {response.text[:2000]}"
            )
        return response.json() if response.content else None

    # -- DAGs and DAG runs -------------------------------------------------------------------

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> None:
        """Wait until the dag-processor has serialised ``dag_id``."""

        def parsed() -> bool:
            response = self._http.get(f"/dags/{dag_id}/details")
            return response.status_code == 200

        poll_until(parsed, timeout=timeout, what=f"DAG {dag_id} to be parsed")

    def set_paused(self, dag_id: str, paused: bool) -> None:
        """Pause or unpause a DAG (``PATCH /dags/{dag_id}``)."""
        body = self._json("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})
        assert body["is_paused"] is paused

    def trigger(self, dag_id: str, conf: dict[str, Any], run_id: str | None = None) -> str:
        """Unpause ``dag_id`` and create a manual DAG run with ``conf`` (and ``run_id``, else
        Airflow names it); returns its run id."""
        self.wait_for_dag(dag_id)
        self.set_paused(dag_id, False)
        request: dict[str, Any] = {"logical_date": None, "conf": conf}
        if run_id is not None:
            request["dag_run_id"] = run_id
        body = self._json("POST", f"/dags/{dag_id}/dagRuns", json=request)
        return str(body["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """``GET`` one DAG run."""
        return dict(self._json("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))

    def wait_for_dag_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """Wait until the DAG run finished; returns its final state."""

        def finished() -> str | None:
            state = str(self.dag_run(dag_id, run_id)["state"])
            return state if state in FINISHED_RUN_STATES else None

        return poll_until(finished, timeout=timeout, what=f"DAG run {dag_id}/{run_id} to finish")

    # -- task instances ------------------------------------------------------------------------

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """All task instances of a DAG run (mapped ones included), page by page."""
        found: list[dict[str, Any]] = []
        while True:
            body = self._json(
                "GET",
                f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                params={"limit": PAGE, "offset": len(found), "order_by": "id"},
            )
            found += body["task_instances"]
            if not body["task_instances"] or len(found) >= body["total_entries"]:
                return found

    def states(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str | None]:
        """``{(task_id, map_index): state}`` of a DAG run."""
        return {
            (ti["task_id"], ti["map_index"]): ti["state"]
            for ti in self.task_instances(dag_id, run_id)
        }

    def task_instance(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> dict[str, Any]:
        """One task instance (``map_index`` -1 for unmapped tasks)."""
        suffix = "" if map_index < 0 else f"/{map_index}"
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}{suffix}"
        return dict(self._json("GET", path))

    def wait_for_states(
        self,
        dag_id: str,
        run_id: str,
        wanted: str,
        *,
        count: int = 1,
        timeout: float,
        interval: float = 0.5,
    ) -> dict[tuple[str, int], str | None]:
        """Wait until at least ``count`` task instances of the run are in state ``wanted``."""

        def reached() -> dict[tuple[str, int], str | None] | None:
            states = self.states(dag_id, run_id)
            hits = sum(1 for state in states.values() if state == wanted)
            return states if hits >= count else None

        return poll_until(
            reached,
            timeout=timeout,
            interval=interval,
            what=f"{count} task instance(s) of {dag_id}/{run_id} to be {wanted}",
        )

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every recorded try of an unmapped task instance (history plus the current one)."""
        body = self._json("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")
        return list(body["task_instances"])

    def set_state(self, dag_id: str, run_id: str, task_id: str, new_state: str) -> None:
        """Mark a task instance ``new_state`` (success / failed / skipped), as a user would."""
        self._json(
            "PATCH",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}",
            json={"new_state": new_state},
        )

    def clear(self, dag_id: str, run_id: str, task_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Clear task instances of one DAG run (whatever their state), as a user would."""
        body = self._json(
            "POST",
            f"/dags/{dag_id}/clearTaskInstances",
            json={
                "dag_run_id": run_id,
                "task_ids": list(task_ids),
                "dry_run": False,
                "only_failed": False,
                "reset_dag_runs": True,
            },
        )
        return list(body["task_instances"])

    # -- pools -------------------------------------------------------------------------------

    def set_pool_slots(self, pool: str, slots: int) -> None:
        """Create the pool ``pool`` or change its number of slots."""
        if self._http.get(f"/pools/{pool}").status_code == 404:
            self._json("POST", "/pools", json={"name": pool, "slots": slots})
            return
        body = self._json(
            "PATCH",
            f"/pools/{pool}",
            params={"update_mask": "slots"},
            json={"pool": pool, "slots": slots, "include_deferred": False},
        )
        assert body["slots"] == slots

    # -- connections and variables ----------------------------------------------------------

    def create_connection(self, connection_id: str, **fields: Any) -> None:
        """Create a connection in the metadata DB (``POST /connections``), e.g. ``conn_type``,
        ``host``, ``password``."""
        self._json("POST", "/connections", json={"connection_id": connection_id, **fields})

    def create_variable(self, key: str, value: str) -> None:
        """Create a Variable in the metadata DB (``POST /variables``)."""
        self._json("POST", "/variables", json={"key": key, "value": value})

    # -- task logs ----------------------------------------------------------------------------

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The text of one try's task log as the UI shows it (trigger lines of a deferred try
        included), one line per entry; an exception follows its entry as ``Type: message``."""
        body = self._json(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true", "map_index": map_index},
            headers={"Accept": "application/json"},
        )
        content = body.get("content") if isinstance(body, dict) else body
        if isinstance(content, str):
            return content
        lines = []
        for entry in content or []:
            if not isinstance(entry, dict):
                lines.append(str(entry))
                continue
            lines.append(f"{entry.get('timestamp', '')} {entry.get('event', '')}".strip())
            # A failure's entry carries the exception apart: its type and message as the UI
            # shows them.
            for error in entry.get("error_detail") or []:
                lines.append(f"{error.get('exc_type')}: {error.get('exc_value')}")
        return "\n".join(lines)

    def failure_logs(self, dag_id: str, run_id: str, limit: int = 3, tail: int = 25) -> str:
        """The last lines of the logs of up to ``limit`` failed task instances of a DAG run: what
        an assertion on the run's state shows, so a failure on a CI machine explains itself."""
        failed = [ti for ti in self.task_instances(dag_id, run_id) if ti["state"] == "failed"]
        parts = []
        for ti in failed[:limit]:
            try:
                text = self.task_log(
                    dag_id, run_id, ti["task_id"], max(ti["try_number"], 1), ti["map_index"]
                )
            except Exception as exc:  # a diagnostic must not hide the failure
                text = f"(log unavailable: {exc!r})"
            lines = text.splitlines()[-tail:]
            parts.append(f"--- {ti['task_id']}[{ti['map_index']}]:\n" + "\n".join(lines))
        return f"{len(failed)} failed task instance(s)\n" + "\n".join(parts)

    # -- XCom ---------------------------------------------------------------------------------

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """The deserialised value of one XCom entry."""
        body = self._json(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"map_index": map_index},
        )
        return body["value"]
