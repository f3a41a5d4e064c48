"""Extra link from an Airflow task to the Cyberdesk dashboard page of its run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cyberdesk_airflow import _compat
from cyberdesk_airflow._compat import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

#: XCom keys the operators push as soon as a run exists.
XCOM_RUN_ID = "run_id"
XCOM_RUN_URL = "run_url"
XCOM_SESSION_ID = "session_id"
XCOM_ATTACHMENTS = "cyberdesk_attachments"


class CyberdeskRunLink(BaseOperatorLink):
    """The "Cyberdesk Run" button: the dashboard page of the run the task created or watches.

    Operators push the URL under ``run_url`` and under this link's own ``xcom_key`` right after the
    run exists, so the button works while the task is still running or deferred.
    """

    name = "Cyberdesk Run"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        """Return the run URL pushed by the task instance, or an empty string before it exists."""
        url = _compat.XCom.get_value(key=XCOM_RUN_URL, ti_key=ti_key)
        return str(url) if url else ""


def push_run_link(context: Any, run_id: str, run_url: str, session_id: str | None) -> None:
    """Push run id, URL, session and the link itself to XCom, before any waiting starts."""
    ti = context["ti"]
    ti.xcom_push(key=XCOM_RUN_ID, value=run_id)
    ti.xcom_push(key=XCOM_RUN_URL, value=run_url)
    ti.xcom_push(key=XCOM_SESSION_ID, value=session_id)
    ti.xcom_push(key=CyberdeskRunLink().xcom_key, value=run_url)
