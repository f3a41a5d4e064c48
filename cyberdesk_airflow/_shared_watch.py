"""What the triggers of one triggerer event loop share: connection lookups and watchers.

A triggerer runs every trigger in one event loop. Without sharing, each of N deferred tasks would
look its connection up (secrets backends, a thread hop), build an HTTP client and poll on its
own. Here the first trigger of a connection looks it up and the others await that same lookup
(`cyberdesk_core.shared_watchers.LoopLookups`); the triggers of one set of credentials and poll
interval then wait through one shared ``RunWatcher`` whose client is built once, when the
watcher is (``SharedWatcherSource``, the core's shared-watcher API that the Prefect hub uses
too). Only the connection lookup is Airflow's.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib

from cyberdesk_airflow.hooks import CyberdeskHook
from cyberdesk_core.shared_watchers import ClientCredentials, LoopLookups
from cyberdesk_core.transport import default_ssl_context

__all__ = ["LOOKUP_TTL", "shared_credentials"]

# httpx loads its asyncio network backend (anyio's) on its first request. Loading it here, when
# the triggerer imports the trigger class, keeps that import (tens to hundreds of milliseconds)
# from stalling the triggerer's event loop, and every trigger in it, at the first poll.
with contextlib.suppress(ImportError):
    importlib.import_module("anyio._backends._asyncio")

#: Seconds a looked-up connection is reused by triggers starting later; an edited connection
#: (a rotated API key) reaches new triggers after at most this long.
LOOKUP_TTL = 30.0


async def _lookup(conn_id: str) -> ClientCredentials:
    client_kwargs = await CyberdeskHook(conn_id).aget_client_kwargs()
    # Loading the CA bundle takes long enough to stall the loop; do it once, in a thread, so that
    # building a watcher's client later is quick.
    await asyncio.to_thread(default_ssl_context)
    return ClientCredentials(**client_kwargs)


_LOOKUPS: LoopLookups[ClientCredentials] = LoopLookups(_lookup, LOOKUP_TTL)


async def shared_credentials(conn_id: str) -> ClientCredentials:
    """The connection's client settings, looked up once per event loop and ``LOOKUP_TTL``.

    Concurrent callers await the same lookup. Raises what the lookup raises (e.g.
    ``ConfigurationError`` for a connection without an API key); failures are not cached.
    """
    return await _LOOKUPS.get(conn_id)
