"""Ad-hoc session: sign in to a payer portal once, decide what to do next, sign out.

1. ``login`` starts a Cyberdesk session (``start_session=True``): the desktop that runs it stays
   reserved for this DAG run, still signed in, and the run's outputs are kept under the alias
   ``login``. The portal credentials live on the machine in Cyberdesk, not in Airflow.
2. ``choose_next_workflow`` reads the login's outputs and picks the next workflow at run time:
   submit the waiting claims, or else download the remittance advices.
3. ``work`` runs the chosen workflow in the same session (``session_id`` from the login task).
4. ``logout`` runs last in the session with ``release_session_after=True``, which frees the
   desktop. It runs even when ``work`` failed (``trigger_rule="all_done"``), so a failure never
   leaves the machine reserved.
"""

# At DAG-definition time TaskFlow calls and operator arguments receive XComArgs, which Airflow
# resolves to the annotated values when the tasks run; mypy cannot see that substitution.
# mypy: disable-error-code="arg-type,index"

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG, XComArg, task
from cyberdesk_example_settings import CONN_ID, POLL_INTERVAL, lookup, pool_list

from cyberdesk_airflow.operators import CyberdeskRunOperator

with DAG(
    dag_id="cyberdesk_adhoc_portal_session",
    description="Sign in to a payer portal, run a step chosen at run time, sign out",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["cyberdesk", "sessions", "example"],
    doc_md=__doc__,
) as dag:

    @task(multiple_outputs=True)
    def settings() -> dict[str, Any]:
        """Workflow and pool ids (Variables, then environment, then the emulator seed)."""
        return {
            "login": lookup("portal_login_workflow_id"),
            "logout": lookup("portal_logout_workflow_id"),
            "pool_ids": pool_list("billing_pool_id"),
        }

    config = settings()

    login = CyberdeskRunOperator(
        task_id="login",
        cyberdesk_conn_id=CONN_ID,
        workflow_id=config["login"],
        pool_ids=config["pool_ids"],
        start_session=True,
        session_alias="login",
        poll_interval=POLL_INTERVAL,
    )
    session_id = XComArg(login, key="session_id")

    @task
    def choose_next_workflow(login_outputs: dict[str, Any]) -> str:
        """Submit claims when some are waiting; otherwise fetch the remittance advices."""
        if int(login_outputs.get("pending_claims") or 0) > 0:
            return lookup("claims_submit_workflow_id")
        return lookup("remittance_download_workflow_id")

    work = CyberdeskRunOperator(
        task_id="work",
        cyberdesk_conn_id=CONN_ID,
        workflow_id=choose_next_workflow(login.output),
        session_id=session_id,
        poll_interval=POLL_INTERVAL,
    )

    logout = CyberdeskRunOperator(
        task_id="logout",
        cyberdesk_conn_id=CONN_ID,
        workflow_id=config["logout"],
        session_id=session_id,
        release_session_after=True,
        trigger_rule="all_done",
        poll_interval=POLL_INTERVAL,
    )

    work >> logout
