"""HTTP transport: auth header, timeouts, retries with full-jitter backoff and Retry-After.

Every decision (is this retryable, how long to wait, which error to raise) is a pure function of
the request spec, the attempt number and the response or exception; `SyncTransport` and
`AsyncTransport` only add the I/O around them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from cyberdesk_core._config import DEFAULT_BASE_URL, ClientConfig, check_base_url
from cyberdesk_core._request import NO_BODY, Call, RequestSpec
from cyberdesk_core._version import __version__
from cyberdesk_core.errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    CyberdeskError,
    error_from_response,
    parse_retry_after,
)
from cyberdesk_core.idempotency import new_idempotency_key
from cyberdesk_core.payloads import to_jsonable, unencodable_request

__all__ = [
    "DEFAULT_BASE_URL",
    "RETRY_STATUSES",
    "AsyncTransport",
    "ClientConfig",
    "RetryPolicy",
    "SyncTransport",
    "TransportBase",
    "backoff_delay",
    "check_base_url",
    "retry_delay",
]

logger = logging.getLogger("cyberdesk_core")

T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = f"cyberdesk-orchestration/{__version__} httpx/{httpx.__version__}"


@dataclass(frozen=True)
class RetryPolicy:
    """Retry budget and backoff bounds: delay = random() * min(max_delay, min_delay * 2**n)."""

    max_retries: int = 3
    min_delay: float = 0.25
    max_delay: float = 8.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.min_delay < 0 or self.max_delay < 0:
            raise ConfigurationError("RetryPolicy values must be >= 0.")


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """The certificate store every client of this process verifies TLS with.

    httpx loads the CA bundle for each new client (about 20 ms of CPU and 1 MiB each); loading it
    once lets an Airflow triggerer or a Prefect worker build one client per wait cheaply.
    """
    return httpx.create_ssl_context()


def backoff_delay(policy: RetryPolicy, attempt: int, rng: Callable[[], float]) -> float:
    """Full-jitter backoff for retry number `attempt` (counted from 0)."""
    return float(rng() * min(policy.max_delay, policy.min_delay * (2.0**attempt)))


def is_retry_eligible(spec: RequestSpec) -> bool:
    """GETs always; writes only when they carry an Idempotency-Key (replays are then safe)."""
    return not spec.is_write or spec.idempotency_key is not None


def retry_delay(
    policy: RetryPolicy,
    spec: RequestSpec,
    attempt: int,
    *,
    response: httpx.Response | None = None,
    error: BaseException | None = None,
    rng: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before retrying, or None if this outcome must not be retried."""
    if attempt >= policy.max_retries or not is_retry_eligible(spec):
        return None
    if error is not None:
        return (
            backoff_delay(policy, attempt, rng) if isinstance(error, httpx.RequestError) else None
        )
    if response is None:
        return None
    status = response.status_code
    in_progress = (
        status == 409 and response.headers.get("Idempotency-Status", "").lower() == "in_progress"
    )
    if status not in RETRY_STATUSES and not in_progress:
        return None
    after = parse_retry_after(response.headers.get("Retry-After"))
    if after is not None:
        return min(max(after, 0.0), policy.max_delay)
    return backoff_delay(policy, attempt, rng)


def connection_error(
    spec: RequestSpec, url: str, exc: httpx.RequestError, attempts: int
) -> CyberdeskError:
    """Map an httpx failure to APITimeoutError / APIConnectionError (no request details leak)."""
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"{spec.method} {url} timed out{tried} ({type(exc).__name__}). Cyberdesk may be slow "
            "or unreachable; retry later or raise the client timeout."
        )
    return APIConnectionError(
        f"Could not reach Cyberdesk for {spec.method} {url}{tried}: {type(exc).__name__}: {exc}. "
        "Check CYBERDESK_BASE_URL and the network."
    )


def response_error(spec: RequestSpec, response: httpx.Response, attempts: int) -> CyberdeskError:
    """Map an HTTP error response (body already read) to the right APIError."""
    try:
        body: object = response.json()
    except ValueError:
        body = response.text
    return error_from_response(
        status_code=response.status_code,
        body=body,
        headers=response.headers,
        method=spec.method,
        url=str(response.request.url),
        resource=spec.resource,
        attempts=attempts,
    )


class TransportBase:
    """State and request building shared by both transports."""

    def __init__(
        self, config: ClientConfig, policy: RetryPolicy, rng: Callable[[], float] | None
    ) -> None:
        self.config = config
        self.policy = policy
        self._rng = rng or random.random

    def _headers(self, spec: RequestSpec) -> dict[str, str]:
        # The key is revealed here, per request, so no long-lived object holds it in clear.
        headers = {"Authorization": f"Bearer {self.config.api_key.get_secret_value()}"}
        if spec.idempotency_key is not None:
            headers["Idempotency-Key"] = spec.idempotency_key
        if spec.raw_bytes:
            headers["Accept-Encoding"] = "identity"
        return headers

    def _prepare(self, spec: RequestSpec) -> RequestSpec:
        # One key per logical write, generated before the first attempt so retries reuse it.
        if spec.is_write and spec.idempotency_key is None:
            return dataclasses.replace(spec, idempotency_key=new_idempotency_key())
        return spec

    def _build(self, client: httpx.Client | httpx.AsyncClient, spec: RequestSpec) -> httpx.Request:
        kwargs: dict[str, Any] = {"params": list(spec.params), "headers": self._headers(spec)}
        if spec.json is not NO_BODY:
            kwargs["json"] = to_jsonable(spec.json, reveal=True)
        try:
            request = client.build_request(spec.method, spec.path, **kwargs)
        except UnicodeEncodeError:
            # Text that is not valid Unicode (a lone surrogate) cannot be encoded; say which
            # field holds it instead of surfacing the codec error. Nothing has been sent.
            raise unencodable_request(
                kwargs.get("json"), spec.params, spec.idempotency_key
            ) from None
        self.config.check_request_url(request.url)
        return request

    def _new_client_kwargs(self) -> dict[str, Any]:
        return {
            "verify": default_ssl_context(),
            "base_url": self.config.base_url,
            "timeout": httpx.Timeout(self.config.timeout),
            "follow_redirects": False,
            "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        }

    def _retry_or_raise(
        self,
        spec: RequestSpec,
        request: httpx.Request,
        attempt: int,
        response: httpx.Response | None,
        error: httpx.RequestError | None,
    ) -> float:
        """After a failed attempt (an error response, body read, or a network error): the
        delay before the next one, or the mapped error raised when this must not be retried."""
        delay = retry_delay(
            self.policy, spec, attempt, response=response, error=error, rng=self._rng
        )
        if delay is None:
            if response is not None:
                raise response_error(spec, response, attempt + 1)
            assert error is not None
            raise connection_error(spec, str(request.url), error, attempt + 1)
        logger.info(
            "Retrying %s %s in %.2fs (retry %d of %d): %s",
            spec.method,
            spec.path,
            delay,
            attempt + 1,
            self.policy.max_retries,
            f"HTTP {response.status_code}" if response is not None else type(error).__name__,
        )
        return delay


class SyncTransport(TransportBase):
    """Blocking transport over one pooled `httpx.Client`."""

    def __init__(
        self,
        config: ClientConfig,
        policy: RetryPolicy,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(config, policy, rng)
        self._sleep = sleep or time.sleep
        self.http = httpx.Client(transport=transport, **self._new_client_kwargs())

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()

    def send(self, spec: RequestSpec, *, stream: bool = False) -> httpx.Response:
        """Send with retries; returns a 2xx response or raises the mapped error."""
        spec = self._prepare(spec)
        attempt = 0
        while True:
            request = self._build(self.http, spec)
            response: httpx.Response | None = None
            error: httpx.RequestError | None = None
            try:
                response = self.http.send(request, stream=stream)
            except httpx.RequestError as exc:
                error = exc
            if response is not None:
                if response.is_success:
                    return response
                # Read the error body (for the raised error) and free the connection.
                response.read()
                response.close()
            self._sleep(self._retry_or_raise(spec, request, attempt, response, error))
            attempt += 1

    def call(self, call: Call[T]) -> T:
        """Send `call.request` and parse the response."""
        return call.parse(self.send(call.request))

    @contextmanager
    def stream(self, spec: RequestSpec) -> Iterator[httpx.Response]:
        """A streaming 2xx response (retries apply until the headers arrive)."""
        response = self.send(spec, stream=True)
        try:
            yield response
        finally:
            response.close()


class AsyncTransport(TransportBase):
    """Asyncio transport over one pooled `httpx.AsyncClient`."""

    def __init__(
        self,
        config: ClientConfig,
        policy: RetryPolicy,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rng: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(config, policy, rng)
        self._sleep = sleep or asyncio.sleep
        self.http = httpx.AsyncClient(transport=transport, **self._new_client_kwargs())

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self.http.aclose()

    async def send(self, spec: RequestSpec, *, stream: bool = False) -> httpx.Response:
        """Send with retries; returns a 2xx response or raises the mapped error."""
        spec = self._prepare(spec)
        attempt = 0
        while True:
            request = self._build(self.http, spec)
            response: httpx.Response | None = None
            error: httpx.RequestError | None = None
            try:
                response = await self.http.send(request, stream=stream)
            except httpx.RequestError as exc:
                error = exc
            if response is not None:
                if response.is_success:
                    return response
                # Read the error body (for the raised error) and free the connection.
                await response.aread()
                await response.aclose()
            await self._sleep(self._retry_or_raise(spec, request, attempt, response, error))
            attempt += 1

    async def call(self, call: Call[T]) -> T:
        """Send `call.request` and parse the response."""
        return call.parse(await self.send(call.request))

    @asynccontextmanager
    async def stream(self, spec: RequestSpec) -> AsyncIterator[httpx.Response]:
        """A streaming 2xx response (retries apply until the headers arrive)."""
        response = await self.send(spec, stream=True)
        try:
            yield response
        finally:
            await response.aclose()
