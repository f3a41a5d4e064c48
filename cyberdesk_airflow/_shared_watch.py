"""What the triggers of one triggerer event loop share: connection lookups and watchers.

A triggerer runs every trigger in one event loop. Without sharing, each of N deferred tasks would
look its connection up (secrets backends, a thread hop), build an HTTP client and poll on its
own. Here the first trigger of a connection looks it up and the others await that same lookup;
the triggers of one set of credentials and poll interval then wait through one ``RunWatcher``
whose client is built once, when the watcher is.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from cyberdesk_airflow.hooks import CyberdeskHook
from cyberdesk_core.aclient import AsyncCyberdeskClient
from cyberdesk_core.transport import default_ssl_context
from cyberdesk_core.watcher import RunWatcher

# httpx loads its asyncio network backend (anyio's) on its first request. Loading it here, when
# the triggerer imports the trigger class, keeps that import (tens to hundreds of milliseconds)
# from stalling the triggerer's event loop, and every trigger in it, at the first poll.
with contextlib.suppress(ImportError):
    importlib.import_module("anyio._backends._asyncio")

#: Seconds a looked-up connection is reused by triggers starting later; an edited connection
#: (a rotated API key) reaches new triggers after at most this long.
LOOKUP_TTL = 30.0


@dataclass(frozen=True, eq=False)
class SharedCredentials:
    """Client settings of one connection; the API key stays out of the repr."""

    conn_id: str
    client_kwargs: dict[str, Any] = field(repr=False)
    #: Identifies the credentials (base URL and a digest of the key, never the key itself).
    identity: tuple[str | None, str] = field(repr=False)
    fetched_at: float = 0.0

    def watcher_source(self, poll_interval: float) -> SharedWatcherSource:
        """Source of the loop's shared watcher for these credentials and ``poll_interval``."""
        return SharedWatcherSource(self, poll_interval)


_LOOKUPS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Task[SharedCredentials]]
] = weakref.WeakKeyDictionary()


async def _lookup(conn_id: str) -> SharedCredentials:
    client_kwargs = await CyberdeskHook(conn_id).aget_client_kwargs()
    # Loading the CA bundle takes long enough to stall the loop; do it once, in a thread, so that
    # building a watcher's client later is quick.
    await asyncio.to_thread(default_ssl_context)
    digest = hashlib.sha256(str(client_kwargs["api_key"]).encode()).hexdigest()
    return SharedCredentials(
        conn_id=conn_id,
        client_kwargs=client_kwargs,
        identity=(client_kwargs.get("base_url"), digest),
        fetched_at=asyncio.get_running_loop().time(),
    )


def _forget_failure(
    per_loop: dict[str, asyncio.Task[SharedCredentials]], conn_id: str
) -> Callable[[asyncio.Task[SharedCredentials]], None]:
    def forget(task: asyncio.Task[SharedCredentials]) -> None:
        # A failed lookup (missing connection, no API key) is retried by the next trigger.
        if (task.cancelled() or task.exception() is not None) and per_loop.get(conn_id) is task:
            del per_loop[conn_id]

    return forget


async def shared_credentials(conn_id: str) -> SharedCredentials:
    """The connection's client settings, looked up once per event loop and ``LOOKUP_TTL``.

    Concurrent callers await the same lookup. Raises what the lookup raises (e.g.
    ``ConfigurationError`` for a connection without an API key); failures are not cached.
    """
    loop = asyncio.get_running_loop()
    per_loop = _LOOKUPS.setdefault(loop, {})
    task = per_loop.get(conn_id)
    fresh = task is not None and (
        not task.done()
        or (
            not task.cancelled()
            and task.exception() is None
            and loop.time() - task.result().fetched_at < LOOKUP_TTL
        )
    )
    if task is None or not fresh:
        task = loop.create_task(_lookup(conn_id), name=f"cyberdesk-connection-{conn_id}")
        task.add_done_callback(_forget_failure(per_loop, conn_id))
        per_loop[conn_id] = task
    # Shielded: one trigger being cancelled must not cancel the lookup the others await.
    return await asyncio.shield(task)


class SharedWatcherSource:
    """Hands out the loop's shared watcher at the moment a wait registers with it.

    A shared watcher retires as soon as no wait is registered, so a trigger must not hold one it
    took before an ``await``: it could have retired by the time the trigger registers. Each wait
    calls the source right before registering. The watcher's client is built only when a new
    watcher is (``RunWatcher.shared`` calls the factory once per watcher); the watcher owns it and
    closes it when it retires.
    """

    def __init__(self, credentials: SharedCredentials, poll_interval: float) -> None:
        self._credentials = credentials
        self._poll_interval = poll_interval
        self._key: Hashable = ("cyberdesk_airflow", *credentials.identity, poll_interval)

    def _new_client(self) -> AsyncCyberdeskClient:
        return AsyncCyberdeskClient(**self._credentials.client_kwargs)

    def __call__(self) -> RunWatcher:
        return RunWatcher.shared(self._key, self._new_client, poll_interval=self._poll_interval)
