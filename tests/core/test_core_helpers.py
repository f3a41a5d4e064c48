"""Shared engine helpers: inputs, summaries, idempotency keys, and the import footprint."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from core_fakes import run_json

from cyberdesk_core import (
    BulkSummary,
    ConfigurationError,
    FailPolicy,
    FileInput,
    RefValue,
    Run,
    RunCancelledError,
    RunFailedError,
    derive_idempotency_key,
    describe_run,
    new_idempotency_key,
    normalize_file_inputs,
    validate_input_values,
    validate_timeouts,
)
from cyberdesk_core.idempotency import IDEMPOTENCY_NAMESPACE


def test_derive_idempotency_key() -> None:
    key = derive_idempotency_key("dag", "run_1", "task", -1, "create")
    assert key == str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, "dag\x1frun_1\x1ftask\x1f-1\x1fcreate"))
    assert uuid.UUID(key).version == 5
    assert key == derive_idempotency_key("dag", "run_1", "task", -1, "create")
    assert key != derive_idempotency_key("dag", "run_1", "task", 0, "create")
    # The separator keeps ("a", "bc") and ("ab", "c") apart.
    assert derive_idempotency_key("a", "bc") != derive_idempotency_key("ab", "c")
    assert new_idempotency_key() != new_idempotency_key()


def test_normalize_file_inputs(tmp_path: Path) -> None:
    f = tmp_path / "in.txt"
    f.write_bytes(b"abc")
    items = normalize_file_inputs(
        [
            f,
            str(f),
            b"raw",
            ("named.bin", b"\x01"),
            FileInput.from_bytes("x", b"y"),
            {"filename": "d.txt", "content": "ZA=="},
        ]
    )
    assert items is not None
    assert [i.filename for i in items] == [
        "in.txt",
        "in.txt",
        "input_2.bin",
        "named.bin",
        "x",
        "d.txt",
    ]
    assert normalize_file_inputs(None) is None
    assert [i.filename for i in normalize_file_inputs(f) or []] == ["in.txt"]
    renamed = normalize_file_inputs({"report.txt": f, "blob.bin": b"zz"}) or []
    assert [(i.filename, i.size_bytes) for i in renamed] == [("report.txt", 3), ("blob.bin", 2)]


@pytest.mark.parametrize(
    ("items", "match"),
    [
        (["/definitely/missing.csv"], r"file_inputs\[0\].*does not exist"),
        ([42], r"file_inputs\[0\]: unsupported int"),
        ([{"filename": "x"}], r"file_inputs\[0\]"),
    ],
)
def test_normalize_file_inputs_errors(items: Any, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        normalize_file_inputs(items)


def test_normalize_rejects_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"shared_file_inputs.*directory"):
        normalize_file_inputs([tmp_path], "shared_file_inputs")


def test_validate_input_values() -> None:
    values = {"a": 1, "b": {"$ref": "s1.outputs.x.y"}, "c": [RefValue("s2.outputs.z")]}
    assert validate_input_values(values) == values
    assert validate_input_values(None) is None
    bad = [
        ({"a": {"$ref": "s1.x"}}, r"input_values.a.*\$ref"),
        ({"a": {"$ref": "s1.outputs.x", "b": 1}}, "no other keys"),
        ({"a": [RefValue("nope")]}, r"input_values.a\[0\]"),
        ({"a": object()}, "JSON-serialisable"),
        ({"a": float("nan")}, "JSON-serialisable"),
        ({1: "x"}, "keys must be non-empty strings"),
        (["a"], "mapping"),
    ]
    for value, match in bad:
        with pytest.raises(ConfigurationError, match=match):
            validate_input_values(value, "input_values")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"shared_inputs"):
        validate_input_values({"x": {"$ref": 3}}, field="shared_inputs")


def test_validate_timeouts() -> None:
    validate_timeouts(poll_interval=1, max_poll_interval=2, timeout=None, poke=3.5)
    for kwargs in (
        {"poll_interval": 0},
        {"timeout": float("inf")},
        {"poke": -1},
        {"poll_interval": True},
        {"poll_interval": 3, "max_poll_interval": 2},
        {"timeout": "10"},
    ):
        with pytest.raises(ConfigurationError):
            validate_timeouts(**kwargs)


def make_runs(*statuses: str) -> list[Run]:
    return [
        Run.model_validate(
            run_json(
                f"r{i}", status=s, output_data={"i": i}, error=["boom"] if s == "error" else None
            )
        )
        for i, s in enumerate(statuses)
    ]


def test_bulk_summary() -> None:
    summary = BulkSummary.from_runs(
        make_runs("success", "error", "cancelled", "success", "running")
    )
    assert summary.total == 5
    assert summary.counts == {"success": 2, "error": 1, "cancelled": 1, "running": 1}
    assert summary.succeeded_ids == ["r0", "r3"]
    assert summary.failed_ids == ["r1"]
    assert summary.cancelled_ids == ["r2"]
    assert summary.pending_ids == ["r4"]
    assert summary.outputs == {"r0": {"i": 0}, "r3": {"i": 3}}
    assert summary.errors == {"r1": ["boom"]}
    assert summary.succeeded == 2
    assert summary.unsuccessful == 2
    data = summary.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert summary.describe() == "5 runs: 1 cancelled, 1 error, 1 running, 2 success"


def test_fail_policy() -> None:
    mixed = BulkSummary.from_runs(make_runs("success", "error"))
    all_bad = BulkSummary.from_runs(make_runs("error", "cancelled"))
    cancelled = BulkSummary.from_runs(make_runs("success", "cancelled"))
    good = BulkSummary.from_runs(make_runs("success"))
    with pytest.raises(RunFailedError, match=r"1 of 2.*fail_on=any.*boom") as info:
        FailPolicy.ANY.check(mixed)
    assert info.value.run.id == "r1"
    with pytest.raises(RunCancelledError):
        FailPolicy.parse("any").check(cancelled)
    assert FailPolicy.ALL.check(mixed) is mixed
    with pytest.raises(RunFailedError):
        FailPolicy.ALL.check(all_bad)
    assert FailPolicy.NEVER.check(all_bad) is all_bad
    assert FailPolicy.ANY.check(good) is good
    assert FailPolicy.ALL.check(BulkSummary.from_runs([])).total == 0
    with pytest.raises(ConfigurationError, match=r"fail_on"):
        FailPolicy.parse("some")


def test_describe_run() -> None:
    run = Run.model_validate(
        run_json(
            "r9",
            status="error",
            machine_id="m-1",
            session_alias="step1",
            error=["x" * 500],
            started_at="2026-11-01T12:00:00Z",
            ended_at="2026-11-01T12:00:30Z",
        )
    )
    line = describe_run(run)
    assert line.startswith("run r9 [error] workflow wf-1, alias step1, machine m-1, took 30.0s: ")
    assert len(line) < 300
    assert "\n" not in line


def test_import_is_light_and_engine_free() -> None:
    code = (
        "import sys, json, cyberdesk_core;"
        "mods = set(sys.modules);"
        "print(json.dumps({m: (m in mods) for m in ['httpx', 'pydantic', 'airflow', 'prefect',"
        " 'cyberdesk_emulator', 'fastapi']}));"
        "from cyberdesk_core import CyberdeskClient, AsyncCyberdeskClient, RunWatcher, Run;"
        "mods = set(sys.modules);"
        "print(json.dumps({m: (m in mods) for m in ['airflow', 'prefect', 'cyberdesk_emulator',"
        " 'fastapi']}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    bare, loaded = json.loads(out[0]), json.loads(out[1])
    assert not any(bare.values()), bare
    assert not any(loaded.values()), loaded


def test_every_exported_name_resolves() -> None:
    import cyberdesk_core

    for name in cyberdesk_core.__all__:
        assert getattr(cyberdesk_core, name) is not None
    assert sorted(dir(cyberdesk_core)) == sorted(cyberdesk_core.__all__)
    with pytest.raises(AttributeError):
        cyberdesk_core.NoSuchThing  # noqa: B018
