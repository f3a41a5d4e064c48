"""The shared-watcher API of both engines: keys, sources, credentials and loop lookups."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cyberdesk_core import AsyncCyberdeskClient, ConfigurationError
from cyberdesk_core.shared_watchers import (
    ClientCredentials,
    LoopLookups,
    SharedWatcherSource,
    shared_watcher,
    watch_key,
)
from cyberdesk_core.watcher import DEFAULT_MAX_POLL_INTERVAL

KEY = "cd_secret_key_for_the_tests"


def _credentials(**changes: Any) -> ClientCredentials:
    settings: dict[str, Any] = {"api_key": KEY, "base_url": "https://api.example.test"}
    return ClientCredentials(**{**settings, **changes})


def test_the_watch_key_never_holds_the_api_key() -> None:
    credentials = _credentials()
    assert KEY not in repr(watch_key(credentials, 1.0))
    assert KEY not in repr(credentials)
    assert watch_key(credentials, 1.0) == watch_key(_credentials(), 1.0)
    assert watch_key(credentials, 1.0) != watch_key(_credentials(api_key="cd_rotated"), 1.0)
    assert watch_key(credentials, 1.0) != watch_key(_credentials(max_retries=0), 1.0)
    assert watch_key(credentials, 1.0) != watch_key(credentials, 2.0)
    assert watch_key(credentials, 1.0) == watch_key(credentials, 1.0, 1.0)
    assert watch_key(credentials, 1.0, 5.0) != watch_key(credentials, 1.0, 60.0)


async def test_client_credentials_build_the_client_they_describe() -> None:
    credentials = _credentials(timeout=7.0, max_retries=1)
    async with credentials.get_async_client() as client:
        assert isinstance(client, AsyncCyberdeskClient)
        assert client.base_url == "https://api.example.test"
    with pytest.raises(ConfigurationError):
        ClientCredentials(api_key=KEY, base_url="http://api.example.test").get_async_client()
    insecure = ClientCredentials(
        api_key=KEY, base_url="http://api.example.test", allow_insecure_http=True
    )
    await insecure.get_async_client().aclose()


async def test_a_source_hands_out_one_watcher_per_key_and_loop() -> None:
    credentials = _credentials()
    source = SharedWatcherSource(credentials, 1.0)
    watcher = source()
    try:
        assert source() is watcher
        assert SharedWatcherSource(_credentials(), 1.0)() is watcher
        assert shared_watcher(credentials, poll_interval=1.0) is watcher
        assert watcher.max_poll_interval == DEFAULT_MAX_POLL_INTERVAL
        other = SharedWatcherSource(credentials, 2.0)()
        assert other is not watcher
        await other.aclose()
    finally:
        await watcher.aclose()
    # A closed shared watcher is replaced by the next one handed out.
    fresh = source()
    assert fresh is not watcher
    await fresh.aclose()


async def test_loop_lookups_share_one_lookup_among_concurrent_callers() -> None:
    calls: list[str] = []
    release = asyncio.Event()

    async def lookup(name: str) -> str:
        calls.append(name)
        await release.wait()
        return name.upper()

    lookups = LoopLookups(lookup, ttl=30.0)
    waiting = [asyncio.ensure_future(lookups.get("conn")) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == ["CONN"] * 5
    assert await lookups.get("conn") == "CONN"
    assert calls == ["conn"]
    assert await lookups.get("other") == "OTHER"
    assert calls == ["conn", "other"]


async def test_one_caller_cancelled_does_not_cancel_the_lookup_of_the_others() -> None:
    release = asyncio.Event()

    async def lookup(name: str) -> str:
        await release.wait()
        return name

    lookups = LoopLookups(lookup, ttl=30.0)
    first = asyncio.ensure_future(lookups.get("conn"))
    second = asyncio.ensure_future(lookups.get("conn"))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "conn"


async def test_loop_lookups_do_not_cache_failures_and_expire_results() -> None:
    answers: list[Any] = [ConfigurationError("no API key"), "first", "second"]

    async def lookup(name: str) -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    lookups = LoopLookups(lookup, ttl=0.05)
    with pytest.raises(ConfigurationError):
        await lookups.get("conn")
    assert await lookups.get("conn") == "first"
    assert await lookups.get("conn") == "first"
    await asyncio.sleep(0.06)
    assert await lookups.get("conn") == "second"
