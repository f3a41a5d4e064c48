"""Airflow hook for Cyberdesk: sync and async ``cyberdesk_core`` clients from a connection."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Sequence
from typing import Any

from cyberdesk_airflow._compat import BaseHook, mask_secret
from cyberdesk_airflow._defaults import DEFAULT_CONN_ID
from cyberdesk_core import (
    DEFAULT_BASE_URL,
    AsyncCyberdeskClient,
    ConfigurationError,
    CyberdeskClient,
    CyberdeskError,
    acancel_active_runs,
    cancel_active_runs,
)
from cyberdesk_core.transport import check_base_url

#: Base URL used when the connection has no host (Cyberdesk Cloud).
CYBERDESK_CLOUD_URL = DEFAULT_BASE_URL

_EXTRA_TIMEOUT = "timeout"
_EXTRA_MAX_RETRIES = "max_retries"
_EXTRA_ALLOW_HTTP = "allow_insecure_http"


class CyberdeskHook(BaseHook):
    """Talk to the Cyberdesk API with the credentials of an Airflow connection.

    The connection keeps the API key in ``password`` and an optional base URL in ``host``
    (Cyberdesk Cloud when empty). Extras: ``timeout`` (seconds per HTTP request),
    ``max_retries`` (retries of transient failures) and ``allow_insecure_http`` (send the key
    over plain http to a host other than this machine; off by default, trusted networks only).

    :param cyberdesk_conn_id: Airflow connection id of type ``cyberdesk``.
    :param timeout: Per-request timeout in seconds; overrides the connection's ``timeout`` extra.
    :param max_retries: Retries of transient failures; overrides the ``max_retries`` extra.
    """

    conn_name_attr = "cyberdesk_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "cyberdesk"
    hook_name = "Cyberdesk"

    def __init__(
        self,
        cyberdesk_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        super().__init__()
        self.cyberdesk_conn_id = cyberdesk_conn_id
        self.timeout = timeout
        self.max_retries = max_retries

    # -- connection form ---------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel and hide the standard fields (Airflow < 3.2 reads this method).

        The extra fields are declared only as ``conn-fields`` in ``get_provider_info``: Airflow
        3.2+ builds the form from them, and 3.1 shows them in the extra JSON (its placeholder).
        """
        return {
            "hidden_fields": ["schema", "port", "login"],
            "relabeling": {"host": "Base URL", "password": "API key"},
            "placeholders": {
                "host": CYBERDESK_CLOUD_URL,
                "password": "cd_...",
                "extra": json.dumps({_EXTRA_TIMEOUT: 30, _EXTRA_MAX_RETRIES: 3}),
            },
        }

    # -- clients -------------------------------------------------------------------------------

    def _client_kwargs(self, conn: Any) -> dict[str, Any]:
        api_key = conn.password
        if not api_key:
            raise ConfigurationError(
                f"Connection {self.cyberdesk_conn_id!r} has no API key: "
                "put it in the password field."
            )
        mask_secret(api_key)
        extra = _extra(conn)
        timeout = self.timeout if self.timeout is not None else extra.get(_EXTRA_TIMEOUT)
        max_retries = (
            self.max_retries if self.max_retries is not None else extra.get(_EXTRA_MAX_RETRIES)
        )
        allow_http = _flag(extra.get(_EXTRA_ALLOW_HTTP), _EXTRA_ALLOW_HTTP, self.cyberdesk_conn_id)
        # Checked here too so the error names the connection and the extra that allows http.
        base_url = check_base_url(
            _base_url(conn),
            allow_insecure_http=allow_http,
            source=f"the host of Airflow connection {self.cyberdesk_conn_id!r}",
            allow_hint=f'set "{_EXTRA_ALLOW_HTTP}": true in the connection\'s extra',
        )
        kwargs: dict[str, Any] = {
            "api_key": api_key,
            "base_url": base_url,
            "allow_insecure_http": allow_http,
        }
        if timeout not in (None, ""):
            kwargs["timeout"] = float(timeout)
        if max_retries not in (None, ""):
            kwargs["max_retries"] = int(max_retries)
        return kwargs

    def get_conn(self) -> CyberdeskClient:
        """Return a new synchronous client; the caller closes it (use it as a context manager)."""
        return self.get_client()

    def get_client(self) -> CyberdeskClient:
        """Return a new synchronous client for the connection."""
        conn = self.get_connection(self.cyberdesk_conn_id)
        return CyberdeskClient(**self._client_kwargs(conn))

    async def aget_client_kwargs(self) -> dict[str, Any]:
        """Client keyword arguments (API key included), looked up without blocking the loop."""
        conn = await self.aget_connection(self.cyberdesk_conn_id)
        return self._client_kwargs(conn)

    async def aget_async_client(self) -> AsyncCyberdeskClient:
        """Return a new asynchronous client without blocking the event loop (a coroutine).

        The connection is read with ``aget_connection``; the client is built in a thread because
        its TLS setup would stall the loop.
        """
        kwargs = await self.aget_client_kwargs()
        return await asyncio.to_thread(AsyncCyberdeskClient, **kwargs)

    async def get_async_client(self) -> AsyncCyberdeskClient:
        """Deprecated name of :meth:`aget_async_client` (it is a coroutine, hence the ``a``)."""
        warnings.warn(
            "CyberdeskHook.get_async_client() is deprecated; use `await hook.aget_async_client()`.",
            DeprecationWarning,
            stacklevel=2,
        )
        return await self.aget_async_client()

    def create_async_client(self) -> AsyncCyberdeskClient:
        """Return a new asynchronous client, looking the connection up synchronously (no await).

        For worker code that resolves the connection before it starts an event loop; triggers use
        :meth:`aget_async_client` instead.
        """
        conn = self.get_connection(self.cyberdesk_conn_id)
        return AsyncCyberdeskClient(**self._client_kwargs(conn))

    def cancel_runs(self, run_ids: Sequence[str]) -> list[str]:
        """Cancel the runs that have not ended yet; best effort, returns the cancelled ids.

        A run is read first because cancelling is a status update that would also relabel a run
        that already finished; a run that cannot be cancelled is logged and skipped.
        """
        with self.get_client() as client:
            cancelled = cancel_active_runs(client, run_ids, logger=self.log)
        self._log_cancelled(cancelled)
        return cancelled

    async def acancel_runs(self, run_ids: Sequence[str]) -> list[str]:
        """Async :meth:`cancel_runs` for triggers (connection looked up asynchronously)."""
        async with await self.aget_async_client() as client:
            cancelled = await acancel_active_runs(client, run_ids, logger=self.log)
        self._log_cancelled(cancelled)
        return cancelled

    def _log_cancelled(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            self.log.info("Cancelled Cyberdesk run %s", run_id)

    def test_connection(self) -> tuple[bool, str]:
        """Make one cheap authenticated call (list one run, base fields only)."""
        try:
            with self.get_client() as client:
                client.runs.list(limit=1, fields=["ended_at"])
        except CyberdeskError as exc:
            return False, f"Cyberdesk connection failed: {exc}"
        except Exception as exc:
            # The form must show a message instead of a stack trace for any failure.
            return False, f"Cyberdesk connection failed: {type(exc).__name__}: {exc}"
        return True, "Connection to Cyberdesk succeeded."


def _extra(conn: Any) -> dict[str, Any]:
    raw = conn.extra
    if not raw:
        return {}
    try:
        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (TypeError, ValueError):
        return {}
    # Fields saved through the pre-3.2 form carry the ``extra__cyberdesk__`` prefix.
    prefix = "extra__cyberdesk__"
    return {key.removeprefix(prefix): value for key, value in data.items()}


def _flag(value: object, name: str, conn_id: str) -> bool:
    """A boolean extra: JSON true/false, or the strings the connection form and URIs produce."""
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ConfigurationError(
        f"Connection {conn_id!r}: extra {name!r} must be true or false, got {value!r}."
    )


def _base_url(conn: Any) -> str:
    host = (conn.host or "").strip()
    if not host:
        return CYBERDESK_CLOUD_URL
    if "://" not in host:
        scheme = conn.schema or "https"
        host = f"{scheme}://{host}"
    if conn.port:
        host = f"{host.rstrip('/')}:{conn.port}"
    return host.rstrip("/")
