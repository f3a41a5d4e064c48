"""Bad input catalogue (core client): each mistake gives a specific error that names the problem
and says what to do, and nothing is created remotely.

Client-side mistakes must be caught before any request (``ConfigurationError``, zero requests);
mistakes only the server can see (unknown ids, malformed UUIDs, retrying an active run) come
back as the specific ``APIError`` subclass after exactly one request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from rel_core_env import ECHO_WORKFLOW, FILES_WORKFLOW, SLOW_WORKFLOW
from reliability_support import new_canary

from cyberdesk_core import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    CyberdeskClient,
    DownloadError,
    NotFoundError,
    RefValue,
    RetryPolicy,
    ValidationError,
    wait_for_run,
)

UNKNOWN = "9d9d9d9d-0000-4000-8000-00000000dead"


@dataclass(frozen=True)
class Case:
    """One bad input: what to call, the error expected, and words its message must contain."""

    call: Callable[[CyberdeskClient, dict[str, Any]], Any]
    error: type[Exception]
    words: tuple[str, ...]
    requests: int = 0  # 0: rejected client-side; 1: one request, not retried


def _no_key(_: CyberdeskClient, env: dict[str, Any]) -> Any:
    return CyberdeskClient(base_url=env["url"])


def _bad_key(_: CyberdeskClient, env: dict[str, Any]) -> Any:
    with CyberdeskClient("cd_not_a_real_key", base_url=env["url"]) as client:
        return client.runs.create(ECHO_WORKFLOW)


def _chain_unknown_alias(client: CyberdeskClient, _: dict[str, Any]) -> Any:
    return client.runs.chain(
        [
            {"workflow_id": ECHO_WORKFLOW, "session_alias": "extract"},
            {"workflow_id": ECHO_WORKFLOW, "inputs": {"total": RefValue("extrct.outputs.total")}},
        ]
    )


CASES: dict[str, Case] = {
    "missing-api-key": Case(_no_key, ConfigurationError, ("API key", "CYBERDESK_API_KEY")),
    "wrong-api-key": Case(_bad_key, AuthenticationError, ("401", "CYBERDESK_API_KEY"), 1),
    "base-url-scheme": Case(
        lambda c, e: CyberdeskClient("k", base_url="ftp://host"),
        ConfigurationError,
        ("base_url", "http://"),
    ),
    "zero-http-timeout": Case(
        lambda c, e: CyberdeskClient("k", base_url=e["url"], timeout=0),
        ConfigurationError,
        ("timeout", "positive"),
    ),
    "negative-retry-policy": Case(
        lambda c, e: RetryPolicy(max_retries=-1), ConfigurationError, ("RetryPolicy", ">= 0")
    ),
    "unknown-workflow": Case(
        lambda c, e: c.runs.create(UNKNOWN), NotFoundError, ("Workflow", UNKNOWN, "Check"), 1
    ),
    "malformed-workflow-uuid": Case(
        lambda c, e: c.runs.create("monthly-report"),
        ValidationError,
        ("workflow_id", "UUID", "Fix"),
        1,
    ),
    "empty-workflow-id": Case(
        lambda c, e: c.runs.create(" "), ConfigurationError, ("workflow_id", "non-empty")
    ),
    "unknown-machine": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, machine_id=UNKNOWN),
        NotFoundError,
        ("Machine", UNKNOWN, "Check"),
        1,
    ),
    "unknown-pool": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, pool_ids=[UNKNOWN]),
        NotFoundError,
        ("Pool", UNKNOWN, "Check"),
        1,
    ),
    "unknown-session": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, session_id=UNKNOWN),
        NotFoundError,
        ("Session", UNKNOWN, "Check"),
        1,
    ),
    "empty-pool-list": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, pool_ids=[]),
        ConfigurationError,
        ("pool_ids", "empty"),
    ),
    "pool-ids-as-string": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, pool_ids=UNKNOWN),
        ConfigurationError,
        ("pool_ids", "list"),
    ),
    "bulk-count-0": Case(
        lambda c, e: c.runs.bulk_create(ECHO_WORKFLOW, 0), ConfigurationError, ("count", "1000")
    ),
    "bulk-count-1001": Case(
        lambda c, e: c.runs.bulk_create(ECHO_WORKFLOW, 1001),
        ConfigurationError,
        ("count", "1000"),
    ),
    "malformed-ref": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, input_values={"x": {"$ref": "step1.total"}}),
        ConfigurationError,
        ("input_values.x", "$ref", "<alias>.outputs.<path>"),
    ),
    "ref-with-extra-keys": Case(
        lambda c, e: c.runs.create(
            ECHO_WORKFLOW, input_values={"x": {"$ref": "a.outputs.b", "default": 1}}
        ),
        ConfigurationError,
        ("$ref", "no other keys"),
    ),
    "chain-ref-to-unknown-alias": Case(
        _chain_unknown_alias, ConfigurationError, ("extrct", "session_alias")
    ),
    "empty-chain": Case(lambda c, e: c.runs.chain([]), ConfigurationError, ("steps", "non-empty")),
    "file-input-missing": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, file_inputs=[e["tmp"] / "nope.csv"]),
        ConfigurationError,
        ("file_inputs[0]", "nope.csv", "does not exist"),
    ),
    "file-input-is-directory": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, file_inputs=[e["tmp"]]),
        ConfigurationError,
        ("file_inputs[0]", "directory", "individual files"),
    ),
    "input-not-json-serialisable": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, input_values={"when": object()}),
        ConfigurationError,
        ("input_values", "JSON-serialisable"),
    ),
    "input-nan": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, input_values={"total": math.nan}),
        ConfigurationError,
        ("input_values", "JSON"),
    ),
    "negative-wait-timeout": Case(
        lambda c, e: wait_for_run(c, UNKNOWN, timeout=-5),
        ConfigurationError,
        ("timeout", "positive"),
    ),
    "negative-poll-interval": Case(
        lambda c, e: wait_for_run(c, UNKNOWN, poll_interval=-1),
        ConfigurationError,
        ("poll_interval", "positive"),
    ),
    "max-poll-below-poll": Case(
        lambda c, e: wait_for_run(c, UNKNOWN, poll_interval=10, max_poll_interval=1),
        ConfigurationError,
        ("max_poll_interval", "poll_interval"),
    ),
    "list-limit-0": Case(lambda c, e: c.runs.list(limit=0), ConfigurationError, ("limit", "1000")),
    "retry-active-run": Case(
        lambda c, e: c.runs.retry(e["active_run"]),
        ConflictError,
        ("409", "terminal", "retried"),
        1,
    ),
    "malformed-run-id": Case(
        lambda c, e: c.runs.get("run-42"), ValidationError, ("run_id", "UUID", "Fix"), 1
    ),
    "download-missing-attachment": Case(
        lambda c, e: c.run_attachments.download(UNKNOWN, e["tmp"]),
        NotFoundError,
        ("attachment", UNKNOWN, "Check the id"),
        1,
    ),
    "download-url-expiry-out-of-range": Case(
        lambda c, e: c.run_attachments.get_download_url(UNKNOWN, expires_in=5),
        ConfigurationError,
        ("expires_in", "10", "3600"),
    ),
    "download-into-missing-folder": Case(
        lambda c, e: c.run_attachments.download(
            e["attachment"], e["tmp"] / "no-such-dir" / "x.txt"
        ),
        DownloadError,
        ("no-such-dir", "does not exist", "Create it"),
        1,
    ),
}


@pytest.fixture(scope="module")
def env(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Objects some cases need: an active run, a real attachment, a scratch folder."""
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        active = client.runs.create(SLOW_WORKFLOW)
        done = wait_for_run(client, client.runs.create(FILES_WORKFLOW).id, poll_interval=0.05)
    yield {
        "url": emulator.url,
        "tmp": tmp_path_factory.mktemp("bad-input"),
        "active_run": active.id,
        "attachment": (done.output_attachment_ids or ["<none>"])[0],
    }
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        client.runs.cancel(active.id)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_named_and_creates_nothing(
    name: str, env: dict[str, Any], emulator: Any, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CYBERDESK_API_KEY", raising=False)
    case = CASES[name]
    with (
        CyberdeskClient(emulator.api_key, base_url=emulator.url, max_retries=3) as client,
        pytest.raises(case.error) as caught,
    ):
        case.call(client, env)
    message = str(caught.value)
    for word in case.words:
        assert word in message, (word, message)
    stats = admin.stats()
    assert stats["runs_created"] == 0
    assert stats["creates_by_idempotency_key"] == {}
    # Client-side mistakes send nothing; server-side ones are sent once, never retried.
    cyberdesk_requests = sum(stats["requests_by_route"].values())
    assert cyberdesk_requests == case.requests, stats["requests_by_route"]


def test_sensitive_values_are_not_echoed_by_validation_errors(emulator: Any, admin: Any) -> None:
    canary = new_canary("bad-input-secret")
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        with pytest.raises(ConfigurationError) as caught:
            client.runs.create(
                ECHO_WORKFLOW, sensitive_input_values={"pw": canary, "when": object()}
            )
        # The server-side validation error of a secret field does not echo it either.
        with pytest.raises(ValidationError) as server_side:
            client.runs.create("not-a-uuid", sensitive_input_values={"pw": canary})
    for exc in (caught.value, server_side.value):
        assert canary not in str(exc)
        assert canary not in repr(exc)
        assert canary not in repr(getattr(exc, "detail", ""))
    assert admin.stats()["runs_created"] == 0


def test_expired_or_tampered_signed_url_is_refused(emulator: Any, env: dict[str, Any]) -> None:
    """A signed URL past its expiry, or with a changed signature, downloads nothing (403)."""
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        good = client.run_attachments.get_download_url(env["attachment"], expires_in=60)
    assert httpx.get(good.url).content == b"hello"
    url = httpx.URL(good.url)
    signer = emulator.emulator.signer
    expired_at = 1_000_000
    expired = url.copy_with(
        params={"expires": expired_at, "signature": signer.sign(env["attachment"], expired_at)}
    )
    tampered = url.copy_with(
        params={"expires": int(url.params["expires"]) + 3600, "signature": url.params["signature"]}
    )
    for bad, reason in ((expired, "expired"), (tampered, "Invalid signature")):
        response = httpx.get(bad)
        assert response.status_code == 403
        assert reason in response.json()["detail"]
        assert b"hello" not in response.content


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 25
