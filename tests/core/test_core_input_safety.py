"""File inputs: regular files only, sizes bounded and checked before reading; text that is not
valid Unicode (a lone surrogate) is refused naming its field, before any request."""

from __future__ import annotations

import asyncio
import os
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cyberdesk_core import (
    AsyncCyberdeskClient,
    ConfigurationError,
    CyberdeskClient,
    FileInput,
    normalize_file_inputs,
)
from cyberdesk_core.inputs import MAX_FILE_BYTES, MAX_TOTAL_FILE_BYTES, read_file_input

MIB = 1024 * 1024
WF = "0e0e0e0e-0000-4000-8000-000000000001"
BAD = "\ud800"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX special files")


@pytest.fixture
def sent() -> list[httpx.Request]:
    return []


@pytest.fixture
def client(sent: list[httpx.Request]) -> Any:
    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    with CyberdeskClient(
        "cd_k", base_url="https://api.example.com", transport=httpx.MockTransport(handle)
    ) as c:
        yield c


def test_defaults() -> None:
    assert MAX_FILE_BYTES == 25 * MIB
    assert MAX_TOTAL_FILE_BYTES == 50 * MIB


def test_a_large_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk, but 25 MiB + 1 if read
    tracemalloc.start()
    try:
        with pytest.raises(ConfigurationError) as caught:
            normalize_file_inputs([big])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    for word in ("file_inputs[0]", "big.bin", "25 MiB", "max_file_bytes", "CYBERDESK_MAX_FILE"):
        assert word in message, (word, message)
    assert peak < MIB, peak


def test_the_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "ledger.csv"
    f.write_bytes(b"x" * 2000)
    with pytest.raises(ConfigurationError, match=r"ledger\.csv.*2000 bytes.*1000 bytes"):
        normalize_file_inputs([f], max_file_bytes=1000)
    assert normalize_file_inputs([f], max_file_bytes=2000) is not None
    monkeypatch.setenv("CYBERDESK_MAX_FILE_INPUT_BYTES", "1000")
    with pytest.raises(ConfigurationError, match="CYBERDESK_MAX_FILE_INPUT_BYTES"):
        normalize_file_inputs([f])
    with pytest.raises(ConfigurationError, match=r"ledger\.csv"):
        FileInput.from_path(f)
    assert FileInput.from_path(f, max_bytes=4096).size_bytes == 2000
    monkeypatch.setenv("CYBERDESK_MAX_FILE_INPUT_BYTES", "lots")
    with pytest.raises(ConfigurationError, match=r"CYBERDESK_MAX_FILE_INPUT_BYTES.*number"):
        normalize_file_inputs([f])
    with pytest.raises(ConfigurationError, match=r"max_file_bytes.*positive"):
        normalize_file_inputs([f], max_file_bytes=0)


def test_bytes_and_file_inputs_count_against_the_same_limits(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"file_inputs\[1\].*over the 1000 bytes"):
        normalize_file_inputs([b"ok", b"y" * 1001], max_file_bytes=1000)
    with pytest.raises(ConfigurationError, match=r"'named\.bin'"):
        normalize_file_inputs([("named.bin", b"y" * 1001)], max_file_bytes=1000)
    built = FileInput.from_bytes("x.bin", b"z" * 1001)
    with pytest.raises(ConfigurationError, match=r"'x\.bin'"):
        normalize_file_inputs([built], max_file_bytes=1000)
    with pytest.raises(ConfigurationError, match=r"'d\.txt'"):
        normalize_file_inputs([built.model_dump() | {"filename": "d.txt"}], max_file_bytes=1000)
    with pytest.raises(ConfigurationError, match=r"\['blob'\].*max_file_bytes"):
        normalize_file_inputs({"blob": b"q" * 1001}, max_file_bytes=1000)
    f = tmp_path / "part.csv"
    f.write_bytes(b"p" * 600)
    with pytest.raises(ConfigurationError) as caught:
        normalize_file_inputs([b"a" * 600, f], max_total_bytes=1000)
    message = str(caught.value)
    for word in ("file_inputs[1]", "part.csv", "1000 bytes", "all files", "max_total_bytes"):
        assert word in message, (word, message)
    assert len(normalize_file_inputs([b"a" * 500, f], max_total_bytes=1100) or []) == 2


def test_the_client_applies_the_default_limit(
    client: CyberdeskClient, sent: list[httpx.Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CYBERDESK_MAX_FILE_INPUTS_TOTAL_BYTES", "100")
    with pytest.raises(ConfigurationError, match="CYBERDESK_MAX_FILE_INPUTS_TOTAL_BYTES"):
        client.runs.create(WF, file_inputs=[b"1" * 60, b"2" * 60])
    assert sent == []


@posix_only
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ConfigurationError, match=r"pipe.*not a regular file"):
        normalize_file_inputs([fifo])


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_kernel_files_and_links_to_them_are_refused(tmp_path: Path) -> None:
    link = tmp_path / "innocent.txt"
    link.symlink_to("/proc/self/environ")
    for path in ("/proc/self/environ", link, "/dev/null"):
        with pytest.raises(ConfigurationError, match="not a regular file") as caught:
            normalize_file_inputs([path])
        assert str(path) in str(caught.value)
    with pytest.raises(ConfigurationError, match="not a regular file"):
        read_file_input("/proc/self/status")


def test_a_link_to_a_regular_file_and_directories(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_bytes(b"abc")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    (item,) = normalize_file_inputs([link]) or []
    assert (item.filename, item.size_bytes) == ("link.csv", 3)
    with pytest.raises(ConfigurationError, match="directory; pass individual files"):
        normalize_file_inputs([tmp_path])
    with pytest.raises(ConfigurationError, match="does not exist"):
        normalize_file_inputs([tmp_path / "nope"])


# -- text that is not valid Unicode --------------------------------------------------------


Call = Callable[[CyberdeskClient], Any]
SURROGATE_CASES: dict[str, tuple[Call, str]] = {
    "input-value": (lambda c: c.runs.create(WF, input_values={"a": BAD}), "input_values.a"),
    "nested-input": (
        lambda c: c.runs.create(WF, input_values={"a": [{"b": BAD}]}),
        "input_values.a[0].b",
    ),
    "input-key": (lambda c: c.runs.create(WF, input_values={BAD: 1}), "a key of input_values"),
    "sensitive-value": (
        lambda c: c.runs.create(WF, sensitive_input_values={"pw": "s3cr3t" + BAD}),
        "sensitive_input_values.pw",
    ),
    "main-prompt": (lambda c: c.runs.create(WF, main_prompt="Do " + BAD), "main_prompt"),
    "session-alias": (lambda c: c.runs.create(WF, session_alias=BAD), "session_alias"),
    "workflow-name": (lambda c: c.workflows.create("prompt", name="n" + BAD), "name"),
    "workflow-prompt": (lambda c: c.workflows.create(BAD), "main_prompt"),
    "chain-alias": (
        lambda c: c.runs.chain([{"workflow_id": WF, "session_alias": BAD}]),
        "steps[0].session_alias",
    ),
    "shared-inputs": (
        lambda c: c.runs.chain([{"workflow_id": WF}], shared_inputs={"x": BAD}),
        "shared_inputs.x",
    ),
    "search": (lambda c: c.runs.list(search=BAD), "query parameter 'search'"),
    "patch-field": (lambda c: c.runs.update(WF, output_data={"k": BAD}), "output_data.k"),
}


@pytest.mark.parametrize("name", sorted(SURROGATE_CASES))
def test_lone_surrogates_are_named_and_nothing_is_sent(
    name: str, client: CyberdeskClient, sent: list[httpx.Request]
) -> None:
    call, where = SURROGATE_CASES[name]
    with pytest.raises(ConfigurationError) as caught:
        call(client)
    message = str(caught.value)
    assert where in message, message
    assert "lone surrogate" in message
    assert "s3cr3t" not in message
    message.encode("utf-8")  # the message itself is printable
    assert sent == []


def test_a_non_ascii_idempotency_key_is_named(
    client: CyberdeskClient, sent: list[httpx.Request]
) -> None:
    with pytest.raises(ConfigurationError, match="idempotency_key must be ASCII"):
        client.runs.create(WF, idempotency_key="clé")
    assert sent == []


def test_async_client_names_the_field_too() -> None:
    sent: list[httpx.Request] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    async def go() -> None:
        async with AsyncCyberdeskClient(
            "cd_k", base_url="https://api.example.com", transport=httpx.MockTransport(handle)
        ) as client:
            await client.workflows.create("p", name=BAD)

    with pytest.raises(ConfigurationError, match="name contains a lone surrogate"):
        asyncio.run(go())
    assert sent == []
