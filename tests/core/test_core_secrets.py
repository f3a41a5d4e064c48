"""Secrets (API key, sensitive inputs) never show up in reprs, messages, exceptions or logs."""

from __future__ import annotations

import logging
import pickle
import traceback

import httpx
import pytest
from core_fakes import API_KEY, FakeAPI, run_json

from cyberdesk_core import (
    AsyncCyberdeskClient,
    ChainStep,
    CyberdeskClient,
    CyberdeskError,
    ValidationError,
)
from cyberdesk_core import _run_endpoints as run_endpoints
from cyberdesk_core.transport import ClientConfig

SECRET = "hunter2-very-secret"
NESTED = "pin-98765"


def echo_422(request: httpx.Request) -> httpx.Response:
    # FastAPI echoes the offending input back; the client must not surface it.
    return httpx.Response(
        422,
        json={
            "detail": [
                {
                    "loc": ["body", "sensitive_input_values", "password"],
                    "msg": "bad",
                    "type": "value_error",
                    "input": {"password": SECRET, "nested": {"pin": NESTED}},
                }
            ]
        },
    )


def assert_clean(text: str) -> None:
    for secret in (API_KEY, SECRET, NESTED):
        assert secret not in text


def test_client_reprs_hide_key() -> None:
    with CyberdeskClient(API_KEY, base_url="https://x") as c:
        assert_clean(repr(c) + str(c) + repr(vars(c)) + repr(vars(c._transport)))
    a = AsyncCyberdeskClient(API_KEY, base_url="https://x")
    assert_clean(repr(a) + repr(vars(a._transport)))
    cfg = ClientConfig.resolve(API_KEY, "https://x", 5)
    assert_clean(repr(cfg) + str(cfg))


def test_request_spec_and_models_hide_sensitive_values() -> None:
    call = run_endpoints.create_run(
        "wf-1", sensitive_input_values={"password": SECRET, "nested": {"pin": NESTED}}
    )
    assert_clean(repr(call) + repr(call.request) + repr(call.request.json))
    step = ChainStep("wf", sensitive_inputs={"password": SECRET})
    assert_clean(repr(step) + str(step) + repr(step.model_dump()))
    chain = run_endpoints.chain_runs([step], shared_sensitive_inputs={"k": NESTED})
    assert_clean(repr(chain.request.json))


def test_nothing_leaks_through_errors_and_logs(
    api: FakeAPI, client: CyberdeskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.queue(
        "POST",
        "/v1/runs",
        httpx.Response(503, json={"detail": "busy"}),
        httpx.ConnectError("reset"),
        echo_422,
    )
    with pytest.raises(ValidationError) as info:
        client.runs.create(
            "wf-1", sensitive_input_values={"password": SECRET, "nested": {"pin": NESTED}}
        )
    exc = info.value
    # The secret really was sent...
    assert SECRET.encode() in api.last.body
    # ...but appears nowhere the user or a log aggregator could see it.
    rendered = "".join(traceback.format_exception(exc))
    assert_clean(rendered + repr(exc) + str(exc) + repr(exc.__dict__))
    again = pickle.loads(pickle.dumps(exc))  # noqa: S301
    assert_clean(repr(again.__dict__))
    assert_clean(caplog.text)
    assert "Retrying POST /v1/runs" in caplog.text
    assert "password" in str(exc)  # the field is named, its value is not


def test_connection_error_does_not_chain_request(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue("GET", "/v1/runs/r", httpx.ConnectError("refused"))
    with pytest.raises(CyberdeskError) as info:
        client.runs.get("r")
    # No chained httpx exception (its request carries the Authorization header).
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    assert_clean("".join(traceback.format_exception(info.value)))


async def test_async_logs_clean(
    api: FakeAPI, aclient: AsyncCyberdeskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.queue(
        "POST", "/v1/runs/r/retry", httpx.Response(502), httpx.Response(200, json=run_json("r"))
    )
    await aclient.runs.retry("r", sensitive_input_values={"password": SECRET})
    assert_clean(caplog.text)
