"""The emulator's own OpenAPI document, fuzzed with schemathesis over a real loopback socket.

Every generated request (valid and invalid) must get a non-5xx answer whose status code, content
type and body match the document. Separately: the admin API refuses requests without its own
token (the API key is not enough), the server binds to loopback by default, and the document
does not leak the admin routes.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rel_core_env import SEED
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cyberdesk_emulator import EmulatorServer

FUZZ_KEY = "cd_fuzz_key_0123456789"
ADMIN_TOKEN = "fuzz-admin-token"
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[EmulatorServer]:
    """An emulator of its own: fuzzing deletes and rewrites objects freely."""
    with EmulatorServer(
        seed=SEED, api_key=FUZZ_KEY, admin_token=ADMIN_TOKEN, time_scale=1000
    ) as server:
        yield server


def _fuzz_operation(operation: Any, mode: GenerationMode, examples: int) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {FUZZ_KEY}"}, checks=CHECKS, timeout=10
        )

    fuzz()


@pytest.mark.slow
def test_openapi_document_holds_for_fuzzed_requests(fuzz_server: EmulatorServer) -> None:
    """Valid and invalid requests for every operation: no 5xx, answers match the document."""
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    failures: list[str] = []
    labels: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        labels.append(operation.label)
        for mode, examples in ((GenerationMode.POSITIVE, 8), (GenerationMode.NEGATIVE, 5)):
            try:
                _fuzz_operation(operation, mode, examples)
            except Unsatisfiable:
                # Nothing to make invalid (e.g. GET /v1/health has no parameters).
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert len(labels) >= 30, labels
    assert not failures, "\n\n".join(failures)
    # The fuzzing went through the API, not around it.
    assert sum(fuzz_server.admin.stats()["requests_by_route"].values()) >= len(labels) * 10


def test_document_covers_the_api_and_hides_admin(fuzz_server: EmulatorServer) -> None:
    document = httpx.get(f"{fuzz_server.url}/openapi.json").json()
    paths = set(document["paths"])
    assert {"/v1/runs", "/v1/runs/{run_id}", "/v1/run-attachments", "/v1/machines"} <= paths
    assert not any(path.startswith("/_emulator") for path in paths)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_emulator/stats"),
        ("PUT", "/_emulator/faults"),
        ("POST", "/_emulator/seed"),
        ("POST", "/_emulator/reset"),
        ("GET", "/_emulator/runs/00000000-0000-4000-8000-000000000000"),
    ],
)
def test_admin_api_needs_its_own_token(fuzz_server: EmulatorServer, method: str, path: str) -> None:
    url = f"{fuzz_server.url}{path}"
    for headers in (
        {},
        {"Authorization": f"Bearer {FUZZ_KEY}"},
        {"X-Emulator-Admin-Token": "wrong-token"},
        {"X-Emulator-Admin-Token": FUZZ_KEY},
    ):
        response = httpx.request(method, url, headers=headers, json={})
        assert response.status_code in (401, 403), (headers, response.status_code)
    ok = httpx.get(
        f"{fuzz_server.url}/_emulator/stats", headers={"X-Emulator-Admin-Token": ADMIN_TOKEN}
    )
    assert ok.status_code == 200


def test_api_needs_the_key(fuzz_server: EmulatorServer) -> None:
    for headers in ({}, {"Authorization": "Bearer cd_wrong"}, {"Authorization": FUZZ_KEY}):
        response = httpx.get(f"{fuzz_server.url}/v1/runs", headers=headers)
        assert response.status_code == 401
    assert httpx.get(f"{fuzz_server.url}/v1/health").status_code == 200


def _outbound_address() -> str | None:
    """A non-loopback address of this host, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent for UDP connect
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else str(address)


def test_binds_to_loopback_by_default() -> None:
    from cyberdesk_emulator.cli import build_parser

    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    with EmulatorServer() as server:
        assert server.host == "127.0.0.1"
        assert server.url.startswith("http://127.0.0.1:")
        other = _outbound_address()
        if other is not None:
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://{other}:{server.port}/v1/health", timeout=2)
