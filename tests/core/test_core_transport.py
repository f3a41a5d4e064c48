"""Transport: configuration, retries, backoff, Retry-After, idempotency keys, error mapping."""

from __future__ import annotations

import ssl
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from core_fakes import API_KEY, BASE_URL, FakeAPI, run_json

from cyberdesk_core import (
    APIConnectionError,
    APITimeoutError,
    AsyncCyberdeskClient,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    CyberdeskClient,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from cyberdesk_core._request import RequestSpec
from cyberdesk_core.transport import (
    DEFAULT_BASE_URL,
    backoff_delay,
    default_ssl_context,
    retry_delay,
)

GET = RequestSpec("GET", "/v1/runs/x")


def resp(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, json={"detail": "x"})


# -- configuration ---------------------------------------------------------------------------


def test_env_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CYBERDESK_API_KEY", "env-key")
    monkeypatch.setenv("CYBERDESK_BASE_URL", "https://emu:8765/")
    with CyberdeskClient() as c:
        assert c.base_url == "https://emu:8765"
        assert c.run_url("r1") == "https://emu:8765/dashboard/runs/r1"


def test_default_base_url_and_cloud_run_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CYBERDESK_BASE_URL", raising=False)
    with CyberdeskClient("k") as c:
        assert c.base_url == DEFAULT_BASE_URL == "https://api.cyberdesk.io"
        assert c.run_url("abc") == "https://cyberdesk.io/dashboard/runs/abc"


def test_missing_key_names_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CYBERDESK_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match=r"api_key.*CYBERDESK_API_KEY"):
        CyberdeskClient()
    with pytest.raises(ConfigurationError, match=r"CYBERDESK_API_KEY"):
        AsyncCyberdeskClient()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"base_url": "ftp://x"}, "base_url"), ({"timeout": 0}, "timeout")],
)
def test_bad_config(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        CyberdeskClient("k", **kwargs)  # type: ignore[arg-type]


def test_retry_policy_from_max_retries() -> None:
    with CyberdeskClient("k", max_retries=7) as c:
        assert c.retry_policy == RetryPolicy(max_retries=7)
    policy = RetryPolicy(max_retries=1, min_delay=0.1, max_delay=1.0)
    with CyberdeskClient("k", retry_policy=policy) as c:
        assert c.retry_policy is policy
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_retries=-1)


# -- pure retry decisions --------------------------------------------------------------------


def test_full_jitter_bounds() -> None:
    policy = RetryPolicy(max_retries=10, min_delay=0.25, max_delay=8.0)
    assert [backoff_delay(policy, n, lambda: 1.0) for n in range(7)] == [
        0.25,
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        8.0,
    ]
    assert backoff_delay(policy, 3, lambda: 0.0) == 0.0
    assert backoff_delay(policy, 3, lambda: 0.5) == 1.0


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    assert retry_delay(RetryPolicy(), GET, 0, response=resp(status), rng=lambda: 1.0) == 0.25


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
def test_non_retryable_statuses(status: int) -> None:
    assert retry_delay(RetryPolicy(), GET, 0, response=resp(status), rng=lambda: 1.0) is None


def test_409_in_progress_is_retryable() -> None:
    r = resp(409, {"Idempotency-Status": "IN_PROGRESS"})
    assert retry_delay(RetryPolicy(), GET, 0, response=r, rng=lambda: 1.0) == 0.25


def test_write_without_key_never_retried() -> None:
    post = RequestSpec("POST", "/v1/runs", json={})
    keyed = RequestSpec("POST", "/v1/runs", json={}, idempotency_key="k")
    assert retry_delay(RetryPolicy(), post, 0, response=resp(503)) is None
    assert retry_delay(RetryPolicy(), post, 0, error=httpx.ConnectError("x")) is None
    assert retry_delay(RetryPolicy(), keyed, 0, response=resp(503), rng=lambda: 1.0) == 0.25


def test_budget_exhausted() -> None:
    policy = RetryPolicy(max_retries=2)
    assert retry_delay(policy, GET, 1, response=resp(503)) is not None
    assert retry_delay(policy, GET, 2, response=resp(503)) is None


def test_retry_after_seconds_and_clamp() -> None:
    policy = RetryPolicy(max_delay=8.0)
    assert retry_delay(policy, GET, 0, response=resp(429, {"Retry-After": "3"})) == 3.0
    assert retry_delay(policy, GET, 0, response=resp(429, {"Retry-After": "120"})) == 8.0
    assert retry_delay(policy, GET, 0, response=resp(503, {"Retry-After": "0"})) == 0.0


def test_retry_after_http_date() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=5)
    header = {"Retry-After": format_datetime(when, usegmt=True)}
    delay = retry_delay(RetryPolicy(), GET, 0, response=resp(429, header))
    assert delay is not None
    assert 3.0 <= delay <= 5.0
    past = {"Retry-After": format_datetime(when - timedelta(hours=1), usegmt=True)}
    assert retry_delay(RetryPolicy(), GET, 0, response=resp(429, past)) == 0.0


def test_retry_after_garbage_falls_back_to_backoff() -> None:
    r = resp(429, {"Retry-After": "soon"})
    assert retry_delay(RetryPolicy(), GET, 1, response=r, rng=lambda: 1.0) == 0.5


# -- retries through the client --------------------------------------------------------------


def test_get_retried_then_succeeds(
    api: FakeAPI, client: CyberdeskClient, sleeps: list[float]
) -> None:
    api.queue(
        "GET",
        "/v1/runs/run-1",
        resp(503),
        resp(429, {"Retry-After": "2"}),
        httpx.ConnectError("refused"),
        httpx.Response(200, json=run_json()),
    )
    assert client.runs.get("run-1").id == "run-1"
    assert api.count("GET") == 4
    # rng is fixed at 0.5: full jitter gives 0.5 * 0.25, then Retry-After 2, then 0.5 * 1.0.
    assert sleeps == [0.125, 2.0, 0.5]


def test_retries_exhausted_raises_last_error(
    api: FakeAPI, client: CyberdeskClient, sleeps: list[float]
) -> None:
    api.queue("GET", "/v1/runs/run-1", resp(503))
    with pytest.raises(ServerError, match=r"503.*after 4 attempts") as info:
        client.runs.get("run-1")
    assert api.count("GET") == 4
    assert len(sleeps) == 3
    assert info.value.status_code == 503


def test_rate_limit_error_carries_retry_after(api: FakeAPI, sleeps: list[float]) -> None:
    api.queue("GET", "/v1/runs/run-1", resp(429, {"Retry-After": "7"}))
    with (
        CyberdeskClient(
            "k", base_url=BASE_URL, transport=httpx.MockTransport(api), max_retries=0
        ) as c,
        pytest.raises(RateLimitError) as info,
    ):
        c.runs.get("run-1")
    assert info.value.retry_after == 7.0
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, ValidationError),
    ],
)
def test_client_errors_not_retried(
    status: int,
    exc_type: type[Exception],
    api: FakeAPI,
    client: CyberdeskClient,
    sleeps: list[float],
) -> None:
    api.queue("GET", "/v1/runs/run-1", resp(status))
    api.queue("POST", "/v1/runs", resp(status))
    with pytest.raises(exc_type):
        client.runs.get("run-1")
    with pytest.raises(exc_type):
        client.runs.create("wf-1")
    assert len(api.requests) == 2
    assert sleeps == []


def test_create_key_reused_across_retries_and_differs_between_calls(
    api: FakeAPI, client: CyberdeskClient
) -> None:
    ok = httpx.Response(201, json=run_json())
    in_flight = resp(409, {"Idempotency-Status": "in_progress"})
    api.queue("POST", "/v1/runs", resp(502), httpx.ReadTimeout("slow"), in_flight, ok)
    client.runs.create("wf-1")
    api.queue("POST", "/v1/runs", ok)
    client.runs.create("wf-1")
    keys = [r.headers["idempotency-key"] for r in api.requests]
    assert len(keys) == 5
    assert len(set(keys[:4])) == 1
    assert keys[4] != keys[0]


def test_every_write_is_retried_with_a_stable_key(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue("PATCH", "/v1/runs/run-1", resp(503), httpx.Response(200, json=run_json()))
    api.queue("DELETE", "/v1/runs/run-1", resp(500), httpx.Response(204))
    client.runs.cancel("run-1")
    client.runs.delete("run-1")
    patch_keys = {r.headers["idempotency-key"] for r in api.requests if r.method == "PATCH"}
    delete_keys = {r.headers["idempotency-key"] for r in api.requests if r.method == "DELETE"}
    assert len(patch_keys) == len(delete_keys) == 1
    assert patch_keys != delete_keys


def test_timeout_maps_to_api_timeout_error(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue("GET", "/v1/runs/run-1", httpx.ReadTimeout("slow"))
    with pytest.raises(APITimeoutError, match=r"timed out after 4 attempts") as info:
        client.runs.get("run-1")
    assert isinstance(info.value, APIConnectionError)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


def test_connection_error_mapped(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue("GET", "/v1/health", httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError, match=r"CYBERDESK_BASE_URL") as info:
        client.health()
    assert not isinstance(info.value, APITimeoutError)


def test_non_json_success_body(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue("GET", "/v1/runs/run-1", httpx.Response(200, text="<html>"))
    with pytest.raises(Exception, match=r"non-JSON body"):
        client.runs.get("run-1")


def test_unexpected_shape(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue("GET", "/v1/runs/run-1", httpx.Response(200, json={"id": "x"}))
    with pytest.raises(Exception, match=r"unexpected Run shape"):
        client.runs.get("run-1")


def test_user_agent_and_no_redirects(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue("GET", "/v1/health", httpx.Response(302, headers={"Location": "http://evil/"}))
    with pytest.raises(Exception, match=r"302"):
        client.health()
    assert api.count("GET") == 1
    assert api.last.headers["user-agent"].startswith("cyberdesk-orchestration/")


async def test_async_retries_and_key_reuse(api: FakeAPI, aclient: AsyncCyberdeskClient) -> None:
    api.queue(
        "POST",
        "/v1/runs/bulk",
        resp(503),
        httpx.ConnectError("x"),
        httpx.Response(201, json={"created_runs": [run_json()]}),
    )
    result = await aclient.runs.bulk_create("wf-1", 1)
    assert result.created_runs[0].id == "run-1"
    keys = {r.headers["idempotency-key"] for r in api.requests}
    assert len(api.requests) == 3
    assert len(keys) == 1


async def test_async_errors_not_retried(api: FakeAPI, aclient: AsyncCyberdeskClient) -> None:
    api.queue("GET", "/v1/runs/run-1", resp(401))
    with pytest.raises(AuthenticationError, match=r"CYBERDESK_API_KEY"):
        await aclient.runs.get("run-1")
    assert len(api.requests) == 1


async def test_async_timeout(
    api: FakeAPI, aclient: AsyncCyberdeskClient, sleeps: list[float]
) -> None:
    api.queue("GET", "/v1/runs/run-1", httpx.ConnectTimeout("x"))
    with pytest.raises(APITimeoutError):
        await aclient.runs.get("run-1")
    assert len(sleeps) == 3


def test_auth_header_uses_key(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue("GET", "/v1/health", {"status": "ok"})
    client.health()
    assert api.last.headers["authorization"] == f"Bearer {API_KEY}"


async def test_clients_share_one_tls_context() -> None:
    # Loading the CA bundle per client costs ~20 ms of CPU and ~1 MiB; a triggerer or a Prefect
    # worker builds one client per wait, so every client of the process reuses one context.
    with CyberdeskClient("k", base_url="https://api.example.test") as sync_client:
        async with AsyncCyberdeskClient("k", base_url="https://api.example.test") as async_client:
            # The pool is private to httpx: there is no public accessor for its TLS context.
            contexts = [
                sync_client._transport.http._transport._pool._ssl_context,  # type: ignore[attr-defined]
                async_client._transport.http._transport._pool._ssl_context,  # type: ignore[attr-defined]
            ]
    assert contexts[0] is contexts[1] is default_ssl_context()
    assert default_ssl_context().verify_mode is ssl.CERT_REQUIRED
