"""Where the API key may go: https, or plain http only to loopback unless explicitly allowed;
never with a `user:password@` part in the base URL; never to another origin at request time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cyberdesk_core import AsyncCyberdeskClient, ConfigurationError, CyberdeskClient
from cyberdesk_core._request import RequestSpec
from cyberdesk_core.transport import check_base_url

KEY = "cd_destination_secret_1"
PASSWORD = "hunter2-basic-pw"


def _recording() -> tuple[list[httpx.Request], httpx.MockTransport, httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "ok"})

    return seen, httpx.MockTransport(handle), httpx.MockTransport(handle)


Factory = Callable[..., Any]
CLIENTS = pytest.mark.parametrize(
    "make", [CyberdeskClient, AsyncCyberdeskClient], ids=["sync", "async"]
)


@CLIENTS
@pytest.mark.parametrize("url", ["http://api.example.com", "http://10.0.0.5:8765/", "http://[::2]"])
def test_plain_http_to_a_remote_host_is_refused(make: Factory, url: str) -> None:
    seen, sync_t, async_t = _recording()
    transport = sync_t if make is CyberdeskClient else async_t
    with pytest.raises(ConfigurationError) as caught:
        make(KEY, base_url=url, transport=transport)
    message = str(caught.value)
    for word in ("plain http", "the base_url argument", "https://", "allow_insecure_http=True"):
        assert word in message, (word, message)
    assert KEY not in message
    assert seen == []


@CLIENTS
def test_plain_http_from_the_environment_names_the_variable(
    make: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CYBERDESK_BASE_URL", "http://api.example.com")
    with pytest.raises(ConfigurationError, match=r"from CYBERDESK_BASE_URL.*allow_insecure_http"):
        make(KEY)


def test_explicit_allow_sends_over_plain_http() -> None:
    seen, transport, _ = _recording()
    with CyberdeskClient(
        KEY, base_url="http://api.example.com", transport=transport, allow_insecure_http=True
    ) as client:
        assert client.base_url == "http://api.example.com"
        client.health()
    assert [str(r.url) for r in seen] == ["http://api.example.com/v1/health"]
    assert seen[0].headers["Authorization"] == f"Bearer {KEY}"


def test_explicit_allow_async() -> None:
    seen, _, transport = _recording()

    async def go() -> None:
        async with AsyncCyberdeskClient(
            KEY, base_url="http://api.example.com", transport=transport, allow_insecure_http=True
        ) as client:
            await client.health()

    asyncio.run(go())
    assert [r.url.host for r in seen] == ["api.example.com"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765",
        "http://127.8.9.10",
        "http://localhost:1234",
        "http://LOCALHOST",
        "http://[::1]:8765",
        "https://api.example.com",
    ],
)
def test_loopback_http_and_https_need_no_setting(url: str) -> None:
    with CyberdeskClient(KEY, base_url=url) as client:
        assert client.base_url == url


@CLIENTS
@pytest.mark.parametrize(
    "url", [f"https://user:{PASSWORD}@api.example.com", f"http://u:{PASSWORD}@127.0.0.1:9"]
)
def test_userinfo_in_base_url_is_refused_without_echoing_it(make: Factory, url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make(KEY, base_url=url)
    message = str(caught.value)
    assert "remove the user:password@ part" in message
    assert PASSWORD not in message
    assert PASSWORD not in repr(caught.value)


def test_userinfo_without_password_and_in_bad_scheme_is_hidden() -> None:
    with pytest.raises(ConfigurationError, match="user:password@"):
        CyberdeskClient(KEY, base_url="https://someone@api.example.com")
    with pytest.raises(ConfigurationError) as caught:
        CyberdeskClient(KEY, base_url=f"ftp://u:{PASSWORD}@host")
    assert PASSWORD not in str(caught.value)


def test_engines_name_their_source_and_how_to_allow() -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_base_url(
            "http://api.example.com",
            source="the host of Airflow connection 'cd'",
            allow_hint="set the extra",
        )
    assert "Airflow connection 'cd'" in str(caught.value)
    assert "set the extra" in str(caught.value)
    assert check_base_url("http://api.example.com/", allow_insecure_http=True) == (
        "http://api.example.com"
    )


@pytest.mark.parametrize(
    "path", ["http://evil.example/v1/runs", "https://evil.example/v1/runs", "http://127.0.0.1/x"]
)
def test_a_request_to_another_origin_is_refused_before_sending(path: str) -> None:
    seen, transport, _ = _recording()
    with (
        CyberdeskClient(KEY, base_url="https://api.cyberdesk.io", transport=transport) as client,
        pytest.raises(ConfigurationError, match="only to the configured base URL"),
    ):
        client._transport.send(RequestSpec("GET", path))
    assert seen == []


def test_a_request_to_another_origin_is_refused_async() -> None:
    seen, _, transport = _recording()

    async def go() -> None:
        async with AsyncCyberdeskClient(
            KEY, base_url="http://127.0.0.1:9", transport=transport
        ) as client:
            await client._transport.send(RequestSpec("GET", "http://evil.example/x"))

    with pytest.raises(ConfigurationError, match=r"evil\.example"):
        asyncio.run(go())
    assert seen == []
