"""Error mapping: classes, attributes and messages that say what to do next."""

from __future__ import annotations

import pickle

import httpx
import pytest
from core_fakes import FakeAPI

from cyberdesk_core import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    CyberdeskClient,
    CyberdeskError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RunFailedError,
    ServerError,
    ValidationError,
    is_transient,
)
from cyberdesk_core.errors import error_from_response, parse_retry_after
from cyberdesk_core.models import Run


def make(
    status: int, body: object = None, headers: dict[str, str] | None = None, **kw: object
) -> APIError:
    return error_from_response(
        status_code=status,
        body={"detail": "boom"} if body is None else body,
        headers=headers or {},
        method="GET",
        url="http://x/v1/runs/r1",
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("status", "cls", "text"),
    [
        (400, BadRequestError, "Fix the request parameters"),
        (401, AuthenticationError, "Check CYBERDESK_API_KEY / the connection's password"),
        (403, PermissionDeniedError, "organization"),
        (404, NotFoundError, "Check the ids"),
        (409, ConflictError, "conflicting state"),
        (422, ValidationError, "Fix these fields"),
        (429, RateLimitError, "retry later"),
        (500, ServerError, "temporary"),
        (503, ServerError, "temporary"),
        (408, ServerError, "temporary"),
        (418, APIError, "unexpected status 418"),
    ],
)
def test_status_to_class(status: int, cls: type[APIError], text: str) -> None:
    exc = make(status, headers={"X-Request-ID": "req-42"})
    assert type(exc) is cls
    assert isinstance(exc, CyberdeskError)
    assert exc.status_code == status
    assert exc.method == "GET"
    assert exc.url == "http://x/v1/runs/r1"
    assert exc.request_id == "req-42"
    assert text in str(exc)
    assert "req-42" in str(exc)


def test_401_message_exact() -> None:
    assert str(make(401)) == (
        "Cyberdesk rejected the API key (401). Check CYBERDESK_API_KEY / the connection's password."
    )


def test_404_names_the_run() -> None:
    exc = make(404, resource=("run", "run-123"))
    assert "run run-123 was not found" in str(exc)
    assert exc.detail == "boom"


def test_422_lists_fields_and_drops_input() -> None:
    body = {
        "detail": [
            {"loc": ["body", "workflow_id"], "msg": "field required", "type": "missing"},
            {
                "loc": ["body", "sensitive_input_values", "pw"],
                "msg": "too long",
                "type": "x",
                "input": "hunter2-plaintext",
            },
        ]
    }
    exc = make(422, body=body)
    assert isinstance(exc, ValidationError)
    assert "body.workflow_id: field required" in str(exc)
    assert "body.sensitive_input_values.pw: too long" in str(exc)
    assert "hunter2" not in str(exc)
    assert "hunter2" not in repr(exc.errors) + repr(exc.detail)
    assert [e["loc"][-1] for e in exc.errors] == ["workflow_id", "pw"]


def test_422_string_detail() -> None:
    exc = make(422, body={"detail": "input_schema: month is required"})
    assert isinstance(exc, ValidationError)
    assert exc.errors == []
    assert "month is required" in str(exc)


def test_409_in_progress_is_transient() -> None:
    busy = make(409, headers={"Idempotency-Status": "in_progress"})
    assert isinstance(busy, ConflictError)
    assert busy.idempotency_in_progress
    assert "still being processed" in str(busy)
    assert is_transient(busy)
    assert not is_transient(make(409))


def test_rate_limit_retry_after() -> None:
    exc = make(429, headers={"Retry-After": "12"})
    assert isinstance(exc, RateLimitError)
    assert exc.retry_after == 12.0
    assert "Retry-After 12 s" in str(exc)


def test_long_detail_truncated() -> None:
    exc = make(500, body={"detail": "x" * 5000})
    assert len(str(exc)) < 800


def test_text_body() -> None:
    exc = make(502, body="Bad gateway from proxy")
    assert "Bad gateway from proxy" in str(exc)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (APIConnectionError("x"), True),
        (make(429), True),
        (make(503), True),
        (make(408), True),
        (make(400), False),
        (make(401), False),
        (make(403), False),
        (make(404), False),
        (make(422), False),
        (ValueError("x"), False),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_parse_retry_after_variants() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("nonsense") is None
    from datetime import datetime, timezone

    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("Sun, 01 Nov 2026 12:00:30 GMT", now=now) == 30.0


def test_errors_pickle_round_trip() -> None:
    exc = make(404, resource=("run", "r1"))
    again = pickle.loads(pickle.dumps(exc))  # noqa: S301
    assert str(again) == str(exc)


def test_run_failed_error_carries_run() -> None:
    run = Run.model_validate(
        {"id": "r", "workflow_id": "w", "status": "error", "created_at": "2026-01-01T00:00:00Z"}
    )
    exc = RunFailedError("failed", run)
    assert exc.run is run
    assert exc.run_id == "r"
    assert exc.status == "error"


def test_http_error_through_client(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue(
        "GET",
        "/v1/runs/gone",
        httpx.Response(404, json={"detail": "Run not found"}, headers={"x-request-id": "abc"}),
    )
    with pytest.raises(NotFoundError) as info:
        client.runs.get("gone")
    assert "run gone was not found" in str(info.value)
    assert info.value.request_id == "abc"
    assert info.value.url == "https://cyberdesk.test/v1/runs/gone"


def test_all_error_kinds_pickle() -> None:
    run = Run.model_validate(
        {"id": "r", "workflow_id": "w", "status": "error", "created_at": "2026-01-01T00:00:00Z"}
    )
    from cyberdesk_core import RunCancelledError, RunTimeoutError

    for exc in [
        make(422, body={"detail": [{"loc": ["a"], "msg": "m", "type": "t"}]}),
        make(429, headers={"Retry-After": "3"}),
        make(409, headers={"Idempotency-Status": "in_progress"}),
        RunFailedError("f", run),
        RunCancelledError("c", run),
        RunTimeoutError("t", None, run_id="r"),
        APIConnectionError("down"),
    ]:
        again = pickle.loads(pickle.dumps(exc))  # noqa: S301
        assert type(again) is type(exc)
        assert str(again) == str(exc)
        assert again.__dict__.keys() == exc.__dict__.keys()
