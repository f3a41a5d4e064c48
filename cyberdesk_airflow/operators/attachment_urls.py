"""Signed download URLs for a run's attachments, handed to the next task through XCom.

The lookup and the checks live in the core (`cyberdesk_core.signed_urls`); this module only reads
the operator's arguments, logs what was signed (never the URL: it is a bearer link) and returns
JSON-friendly dicts for XCom.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from cyberdesk_airflow._compat import BaseOperator
from cyberdesk_airflow._defaults import DEFAULT_CONN_ID
from cyberdesk_airflow.links import XCOM_RUN_URL, CyberdeskRunLink

# The hook and the client are imported when a task runs, not when a DAG file is parsed.
if TYPE_CHECKING:
    from cyberdesk_airflow._compat import Context
    from cyberdesk_airflow.hooks import CyberdeskHook
    from cyberdesk_core.signed_urls import SignedAttachmentUrl

#: The API's default lifetime of a signed URL (`cyberdesk_core.signed_urls.DEFAULT_EXPIRES_IN`),
#: written here so that parsing a DAG file does not import the core.
DEFAULT_EXPIRES_IN = 300


class CyberdeskAttachmentUrlOperator(BaseOperator):
    """Make signed download URLs for a run's attachments (valid ``expires_in`` seconds).

    A signed URL downloads the file without the API key until it expires, so a later task, an
    e-mail or another system can fetch the file without Cyberdesk credentials. It is a bearer
    link: anyone who holds it can download the file until it expires. The task log names the
    attachment, its file name and the expiry, never the URL; the return value (the XCom
    ``return_value``) carries the URL, because that is what this operator is for, so whoever can
    read the DAG's XComs can download the file until then. Keep ``expires_in`` short.

    With ``attachment_id`` the return value is one dict; with ``run_id`` it is a list of dicts,
    one per attachment that matches ``filename`` / ``attachment_type``. Each dict has ``url``,
    ``expires_in``, ``expires_at`` (ISO 8601, UTC), ``attachment_id``, ``run_id``, ``filename``
    and ``attachment_type``.

    :param attachment_id: One attachment to sign (templated). Pass this or ``run_id``.
    :param run_id: Sign the attachments of this run (templated). Pass this or ``attachment_id``.
    :param filename: With ``run_id``: only files of this name; shell-style wildcards such as
        ``*.csv`` match too (templated). Nothing matching fails the task and names the files the
        run has.
    :param attachment_type: With ``run_id``: ``output``, ``input``, or None (default) for both
        (templated).
    :param expires_in: Seconds each URL stays valid, 10..3600 (default 300). A value outside
        that range fails the task before any request is sent.
    :param cyberdesk_conn_id: Cyberdesk connection id.
    """

    template_fields = ("attachment_id", "run_id", "filename", "attachment_type")
    operator_extra_links = (CyberdeskRunLink(),)
    ui_color = "#e9e4ff"

    def __init__(
        self,
        *,
        attachment_id: str | None = None,
        run_id: str | None = None,
        filename: str | None = None,
        attachment_type: str | None = None,
        expires_in: int = DEFAULT_EXPIRES_IN,
        cyberdesk_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.attachment_id = attachment_id
        self.run_id = run_id
        self.filename = filename
        self.attachment_type = attachment_type
        self.expires_in = expires_in
        self.cyberdesk_conn_id = cyberdesk_conn_id

    @cached_property
    def hook(self) -> CyberdeskHook:
        """Hook for ``cyberdesk_conn_id``."""
        from cyberdesk_airflow.hooks import CyberdeskHook

        return CyberdeskHook(self.cyberdesk_conn_id)

    def execute(self, context: Context) -> dict[str, Any] | list[dict[str, Any]]:
        """Sign and return the URL(s); see the class docstring for the shape."""
        from cyberdesk_core.signed_urls import (
            check_expires_in,
            check_selection,
            sign_attachment,
            sign_run_attachments,
        )

        # Everything is checked before the connection is even read: nothing is sent on error.
        check_expires_in(self.expires_in)
        check_selection(self.attachment_id, self.run_id, self.filename, self.attachment_type)
        with self.hook.get_client() as client:
            if self.attachment_id is not None:
                signed = sign_attachment(client, self.attachment_id, expires_in=self.expires_in)
                context["ti"].xcom_push(key=XCOM_RUN_URL, value=client.run_url(signed.run_id))
                self._log_signed([signed])
                return _as_xcom(signed)
            assert self.run_id is not None
            context["ti"].xcom_push(key=XCOM_RUN_URL, value=client.run_url(self.run_id))
            urls = sign_run_attachments(
                client,
                self.run_id,
                filename=self.filename,
                attachment_type=self.attachment_type,
                expires_in=self.expires_in,
            )
        if not urls:
            self.log.info("Cyberdesk run %s has no attachments to sign.", self.run_id)
        self._log_signed(urls)
        return [_as_xcom(signed) for signed in urls]

    def _log_signed(self, urls: list[SignedAttachmentUrl]) -> None:
        for signed in urls:
            self.log.info(
                "Signed a download URL for attachment %s (%s), valid %d s until %s.",
                signed.attachment_id,
                signed.filename,
                signed.expires_in,
                signed.expires_at.isoformat() if signed.expires_at else "unknown",
            )


def _as_xcom(signed: SignedAttachmentUrl) -> dict[str, Any]:
    return signed.model_dump(mode="json")
