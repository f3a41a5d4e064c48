"""The shared-watcher API both engines use: credentials, watcher keys, sources, lookups.

Waits of one process that use the same credentials and poll settings share one `RunWatcher`
per event loop (`RunWatcher.shared`), whose client is built once, when the watcher is. An
engine describes its credentials with `WatchCredentials` (a Prefect credentials block, or
`ClientCredentials` made of an Airflow connection's client settings); `watch_key` derives the
registry key from them without ever keeping the API key, and `SharedWatcherSource` hands out
the loop's watcher at the moment a wait registers with it. `LoopLookups` shares an engine's
(slow) credentials lookup among the waits of one event loop, e.g. the triggers of an Airflow
triggerer.

The process-wide hub (`cyberdesk_core.watch_hub`) registers its waits through the same API.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
import weakref
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr

from cyberdesk_core._config import DEFAULT_BASE_URL
from cyberdesk_core.aclient import AsyncCyberdeskClient
from cyberdesk_core.watcher import DEFAULT_MAX_POLL_INTERVAL, RunWatcher

__all__ = [
    "ClientCredentials",
    "LoopLookups",
    "SharedWatcherSource",
    "WatchCredentials",
    "shared_watcher",
    "watch_key",
]

T = TypeVar("T")

# Keys the credentials digest: a registry key never lets anyone test a guessed API key.
_KEY_SALT = secrets.token_bytes(16)


class WatchCredentials(Protocol):
    """What a shared watcher needs of an engine's credentials."""

    @property
    def api_key(self) -> SecretStr:
        """The API key (kept secret: only a keyed digest of it enters a watcher key)."""

    @property
    def base_url(self) -> str:
        """Base URL of the Cyberdesk API."""

    @property
    def timeout(self) -> float:
        """Timeout in seconds of each HTTP request of the client."""

    @property
    def max_retries(self) -> int:
        """How many times the client retries a transient failure."""

    def get_async_client(self) -> AsyncCyberdeskClient:
        """A new asynchronous client for these credentials (the watcher owns and closes it)."""


class ClientCredentials(BaseModel):
    """Client settings as `WatchCredentials`, for an engine without a credentials object.

    An Airflow connection's client settings become one of these; the API key stays out of
    the repr.
    """

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 30.0
    max_retries: int = 3
    allow_insecure_http: bool = False

    def get_async_client(self) -> AsyncCyberdeskClient:
        """A new asynchronous client with these settings."""
        return AsyncCyberdeskClient(
            self.api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=self.max_retries,
            allow_insecure_http=self.allow_insecure_http,
        )


def watch_key(
    credentials: WatchCredentials, poll_interval: float, max_poll_interval: float | None = None
) -> Hashable:
    """Registry key of a shared watcher: never the API key itself, only a keyed digest.

    A rotated API key gives another key, so its waits get a watcher (and a client) of their
    own; the old watcher retires once its last wait ends. Waits share a watcher only when
    it polls them as they asked: same interval and same back-off bound (`None`: no back-off
    beyond `poll_interval`).
    """
    secret = credentials.api_key.get_secret_value().encode()
    digest = hmac.new(_KEY_SALT, secret, hashlib.sha256).hexdigest()
    return (
        "cyberdesk",
        credentials.base_url,
        digest,
        credentials.timeout,
        credentials.max_retries,
        poll_interval,
        max(max_poll_interval or poll_interval, poll_interval),
    )


def shared_watcher(
    credentials: WatchCredentials,
    *,
    poll_interval: float,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
) -> RunWatcher:
    """The running loop's shared watcher for these credentials and poll settings.

    Register with it before awaiting anything else: a shared watcher retires (and refuses
    waits) as soon as it has none.
    """
    max_poll_interval = max(max_poll_interval, poll_interval)
    return RunWatcher.shared(
        watch_key(credentials, poll_interval, max_poll_interval),
        credentials.get_async_client,
        poll_interval=poll_interval,
        max_poll_interval=max_poll_interval,
    )


class SharedWatcherSource:
    """Hands out the loop's shared watcher at the moment a wait registers with it.

    A shared watcher retires as soon as no wait is registered, so a wait must not hold one it
    took before an `await`: it could have retired by the time the wait registers. Each wait
    calls the source right before registering. The watcher's client is built only when a new
    watcher is (`RunWatcher.shared` calls the factory once per watcher); the watcher owns it
    and closes it when it retires.
    """

    def __init__(
        self,
        credentials: WatchCredentials,
        poll_interval: float,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    ) -> None:
        self._credentials = credentials
        self._poll_interval = poll_interval
        self._max_poll_interval = max_poll_interval

    def __call__(self) -> RunWatcher:
        return shared_watcher(
            self._credentials,
            poll_interval=self._poll_interval,
            max_poll_interval=self._max_poll_interval,
        )


@dataclass
class _Lookup(Generic[T]):
    task: asyncio.Task[T]
    #: Loop time at which the lookup succeeded (None while it runs or when it failed).
    done_at: float | None = None


class LoopLookups(Generic[T]):
    """Results of a slow lookup by name, shared by the callers of one event loop for a while.

    The first caller of a name starts the lookup; concurrent callers await that same lookup
    (shielded: one caller being cancelled does not cancel it for the others). A result is
    reused for `ttl` seconds after it arrived, so an edited source (a rotated API key) reaches
    new callers after at most that long. Failures are not cached: the next caller looks up
    again.
    """

    def __init__(self, lookup: Callable[[str], Coroutine[Any, Any, T]], ttl: float) -> None:
        self._lookup = lookup
        self.ttl = ttl
        # Per loop: a task belongs to the loop that created it.
        self._lookups: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, _Lookup[T]]
        ] = weakref.WeakKeyDictionary()

    async def get(self, name: str) -> T:
        """The result of looking `name` up, from this loop's cache while it is fresh."""
        loop = asyncio.get_running_loop()
        per_loop = self._lookups.setdefault(loop, {})
        entry = per_loop.get(name)
        if entry is None or not self._fresh(entry, loop.time()):
            task = loop.create_task(self._lookup(name), name=f"cyberdesk-lookup-{name}")
            entry = per_loop[name] = _Lookup(task)
            task.add_done_callback(functools.partial(_settle, per_loop, name, entry, loop))
        return await asyncio.shield(entry.task)

    def _fresh(self, entry: _Lookup[T], now: float) -> bool:
        if not entry.task.done():
            return True
        return entry.done_at is not None and now - entry.done_at < self.ttl


def _settle(
    per_loop: dict[str, _Lookup[T]],
    name: str,
    entry: _Lookup[T],
    loop: asyncio.AbstractEventLoop,
    task: asyncio.Task[T],
) -> None:
    if not task.cancelled() and task.exception() is None:
        entry.done_at = loop.time()
    elif per_loop.get(name) is entry:
        # A failed lookup (missing connection, no API key) is retried by the next caller.
        del per_loop[name]
