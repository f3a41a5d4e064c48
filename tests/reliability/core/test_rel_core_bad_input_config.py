"""Bad input catalogue (core client), configuration and local-input holes: an API key that would
travel in clear or as Basic auth, special or oversized file inputs, text that is not valid
Unicode. Each is refused before any request with a `ConfigurationError` that names the problem
and what to do, and nothing reaches the emulator.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rel_core_env import ECHO_WORKFLOW
from reliability_support import new_canary

from cyberdesk_core import AsyncCyberdeskClient, ConfigurationError, CyberdeskClient
from cyberdesk_core.inputs import MAX_FILE_BYTES

BAD = "\ud800"


@dataclass(frozen=True)
class Case:
    """One bad input: what to call, the error expected, words its message must contain, and
    words it must not contain (secrets)."""

    call: Callable[[CyberdeskClient, dict[str, Any]], Any]
    words: tuple[str, ...]
    hidden: tuple[str, ...] = ()
    error: type[Exception] = ConfigurationError
    needs: str | None = None  # skip when this path does not exist on the platform


def _client(base_url: str, **kwargs: Any) -> Callable[[CyberdeskClient, dict[str, Any]], Any]:
    def call(_: CyberdeskClient, env: dict[str, Any]) -> Any:
        with CyberdeskClient(env["key"], base_url=base_url, **kwargs) as client:
            return client.health()

    return call


@contextmanager
def _env_vars(**values: object) -> Iterator[None]:
    """Environment variables set for the duration of one call (cases run one at a time)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update({name: str(value) for name, value in values.items()})
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _env_base_url(_: CyberdeskClient, env: dict[str, Any]) -> Any:
    with _env_vars(CYBERDESK_BASE_URL="http://api.example.com"):
        return AsyncCyberdeskClient(env["key"])


def _files(*names: str, **limits: int) -> Callable[[CyberdeskClient, dict[str, Any]], Any]:
    """Send file inputs: entries of `env` by name, or literal paths; `limits` as env vars."""

    def call(client: CyberdeskClient, env: dict[str, Any]) -> Any:
        items = [env.get(name, name) for name in names]
        with _env_vars(**limits):
            return client.runs.create(ECHO_WORKFLOW, file_inputs=items)

    return call


def _bytes_over_limit(client: CyberdeskClient, _: dict[str, Any]) -> Any:
    with _env_vars(CYBERDESK_MAX_FILE_INPUT_BYTES=10):
        return client.runs.create(ECHO_WORKFLOW, file_inputs=[b"x" * 11])


SECRET_PW = "pw-" + new_canary("basic")[-12:]

CASES: dict[str, Case] = {
    "plain-http-remote-base-url": Case(
        _client("http://api.example.com"),
        ("plain http", "api.example.com", "base_url argument", "allow_insecure_http=True"),
    ),
    "plain-http-private-ip": Case(
        _client("http://10.1.2.3:8765"), ("plain http", "10.1.2.3", "https://")
    ),
    "plain-http-from-env-var": Case(
        _env_base_url, ("plain http", "CYBERDESK_BASE_URL", "allow_insecure_http")
    ),
    "userinfo-in-base-url": Case(
        _client(f"https://admin:{SECRET_PW}@api.example.com"),
        ("remove the user:password@ part",),
        hidden=(SECRET_PW, "admin"),
    ),
    "userinfo-on-loopback": Case(
        lambda c, e: _client(f"http://admin:{SECRET_PW}@{e['host']}")(c, e),
        ("user:password@",),
        hidden=(SECRET_PW,),
    ),
    "file-input-over-25-mib": Case(
        _files("big"), ("file_inputs[0]", "big.bin", "25 MiB", "max_file_bytes")
    ),
    "file-input-over-env-limit": Case(
        _files("ledger", CYBERDESK_MAX_FILE_INPUT_BYTES=100),
        ("ledger.csv", "100 bytes", "CYBERDESK_MAX_FILE_INPUT_BYTES"),
    ),
    "file-input-bytes-over-limit": Case(
        _bytes_over_limit,
        ("file_inputs[0]", "over the 10 bytes", "max_file_bytes"),
    ),
    "file-inputs-over-total": Case(
        _files("ledger", "ledger", CYBERDESK_MAX_FILE_INPUTS_TOTAL_BYTES=300),
        ("file_inputs[1]", "300 bytes", "all files", "CYBERDESK_MAX_FILE_INPUTS_TOTAL_BYTES"),
    ),
    "file-input-fifo": Case(_files("fifo"), ("file_inputs[0]", "not a regular file")),
    "file-input-proc-environ": Case(
        _files("/proc/self/environ"),
        ("file_inputs[0]", "/proc/self/environ", "not a regular file"),
        needs="/proc/self/environ",
    ),
    "file-input-symlink-to-proc": Case(
        _files("proc_link"), ("innocent.txt", "not a regular file"), needs="/proc/self/environ"
    ),
    "file-input-device": Case(
        _files("/dev/zero"), ("/dev/zero", "not a regular file"), needs="/dev/zero"
    ),
    "surrogate-input-value": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, input_values={"a": BAD}),
        ("input_values.a", "lone surrogate"),
    ),
    "surrogate-sensitive-value": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, sensitive_input_values={"pw": e["canary"] + BAD}),
        ("sensitive_input_values.pw", "lone surrogate"),
        hidden=("canary",),
    ),
    "surrogate-main-prompt": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, main_prompt="Run " + BAD),
        ("main_prompt", "lone surrogate"),
    ),
    "surrogate-session-alias": Case(
        lambda c, e: c.runs.create(ECHO_WORKFLOW, session_alias=BAD),
        ("session_alias", "lone surrogate"),
    ),
    "surrogate-workflow-name": Case(
        lambda c, e: c.workflows.create("prompt", name="report " + BAD),
        ("name", "lone surrogate"),
    ),
    "surrogate-chain-step-alias": Case(
        lambda c, e: c.runs.chain([{"workflow_id": ECHO_WORKFLOW, "session_alias": BAD}]),
        ("steps[0].session_alias", "lone surrogate"),
    ),
    "surrogate-run-id": Case(lambda c, e: c.runs.get("run-" + BAD), ("run_id", "lone surrogate")),
    "surrogate-search": Case(
        lambda c, e: c.runs.list(search=BAD), ("query parameter 'search'", "lone surrogate")
    ),
}


@pytest.fixture(scope="module")
def env(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Local files the cases send, the emulator's key and host, a secret canary."""
    tmp = tmp_path_factory.mktemp("bad-config")
    big = tmp / "big.bin"
    with big.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    ledger = tmp / "ledger.csv"
    ledger.write_bytes(b"x" * 200)
    files: dict[str, Any] = {"big": big, "ledger": ledger}
    if sys.platform != "win32":
        os.mkfifo(tmp / "fifo")
        files["fifo"] = tmp / "fifo"
        (tmp / "innocent.txt").symlink_to("/proc/self/environ")
        files["proc_link"] = tmp / "innocent.txt"
    return {
        **files,
        "key": emulator.api_key,
        "host": emulator.url.split("://", 1)[1],
        "canary": new_canary("surrogate-secret"),
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_config_is_named_and_sends_nothing(
    name: str, env: dict[str, Any], emulator: Any, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    if case.needs is not None and not Path(case.needs).exists():
        pytest.skip(f"{case.needs} does not exist here")
    if name == "file-input-fifo" and "fifo" not in env:
        pytest.skip("no FIFOs here")
    monkeypatch.delenv("CYBERDESK_BASE_URL", raising=False)
    with (
        CyberdeskClient(emulator.api_key, base_url=emulator.url, max_retries=3) as client,
        pytest.raises(case.error) as caught,
    ):
        case.call(client, env)
    message = str(caught.value)
    for word in case.words:
        assert word in message, (word, message)
    for word in case.hidden:
        assert env.get(word, word) not in message, (word, message)
        assert env.get(word, word) not in repr(caught.value)
    assert env["key"] not in message
    stats = admin.stats()
    assert stats["runs_created"] == 0
    assert stats["creates_by_idempotency_key"] == {}
    assert sum(stats["requests_by_route"].values()) == 0, stats["requests_by_route"]


def test_loopback_http_needs_no_setting(emulator: Any, admin: Any) -> None:
    """The emulator (plain http on 127.0.0.1) keeps working without allow_insecure_http."""
    assert emulator.url.startswith("http://127.0.0.1:")
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        assert client.runs.list(limit=1).limit == 1
    assert sum(admin.stats()["requests_by_route"].values()) == 1


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 18
