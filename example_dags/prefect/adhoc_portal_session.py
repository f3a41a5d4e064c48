"""Ad-hoc session: sign in to a payer portal once, decide what to do next, sign out.

1. The login run starts a Cyberdesk session (``start_session=True``): its desktop stays reserved
   for this flow run, still signed in. The portal credentials live on the machine in Cyberdesk.
2. The flow reads the login's outputs and picks the next workflow at run time: submit the waiting
   claims, or else download the remittance advices (to a local folder).
3. The chosen workflow runs in the same session (``session_id`` from the login).
4. The logout runs last with ``release_session_after=True``, in a ``finally`` block, so the
   desktop is freed even when the middle step fails.

    python adhoc_portal_session.py
"""

from __future__ import annotations

from typing import Any

from cyberdesk_example_settings import load_credentials, lookup, poll_interval, pool_list
from cyberdesk_example_settings import storage_folder as storage
from prefect import flow, task

from cyberdesk_prefect import cancel_cyberdesk_runs_on_cancellation, run_cyberdesk_workflow


@task
def choose_next_workflow(login_outputs: dict[str, Any] | None) -> str:
    """Submit claims when some are waiting; otherwise fetch the remittance advices."""
    if int((login_outputs or {}).get("pending_claims") or 0) > 0:
        return lookup("claims_submit_workflow_id")
    return lookup("remittance_download_workflow_id")


@flow(
    name="adhoc-portal-session",
    on_cancellation=[cancel_cyberdesk_runs_on_cancellation],
    on_crashed=[cancel_cyberdesk_runs_on_cancellation],
)
def adhoc_portal_session() -> dict[str, Any]:
    """Log in, run the step the login's outputs call for, log out; returns every step's outputs."""
    credentials = load_credentials()
    every = poll_interval()
    login = run_cyberdesk_workflow(
        credentials,
        lookup("portal_login_workflow_id"),
        pool_ids=pool_list("billing_pool_id"),
        start_session=True,
        session_alias="login",
        poll_interval=every,
    )
    try:
        work = run_cyberdesk_workflow(
            credentials,
            choose_next_workflow(login.output_data),
            session_id=login.session_id,
            download_to=str(storage("adhoc_portal_session", login.run_id)),
            poll_interval=every,
        )
    finally:
        logout = run_cyberdesk_workflow(
            credentials,
            lookup("portal_logout_workflow_id"),
            session_id=login.session_id,
            release_session_after=True,
            poll_interval=every,
        )
    return {
        "session_id": login.session_id,
        "login": login.output_data,
        "work": work.output_data,
        "logout": logout.output_data,
        "files": work.downloaded_paths,
        "run_ids": [login.run_id, work.run_id, logout.run_id],
    }


if __name__ == "__main__":
    print(adhoc_portal_session())
