"""Server filenames made safe, bounded and unique (`cyberdesk_core.filenames`): the rules, then
downloads of names a real server (the emulator over loopback) sends.

`safe_filename` is imported from `cyberdesk_core.attachments`, where it always lived, so each
case fails on its own merits against older code rather than on a missing module.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cyberdesk_core import AsyncCyberdeskClient, CyberdeskClient, DownloadError
from cyberdesk_core.attachments import safe_filename

FALLBACK = "attachment-1"
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
SLASHES = "\u2044\u2215\u2571\u29f8\uff0f\uff3c\u29f9\u2216\u2572\u29f5\ufe68"
# Characters that matter to file systems, mixed into arbitrary text by the property test.
NASTY = ["/", "\\", ".", " ", "\x00", "\n", "\x85", ":", "C", "O", "N", "é", "\u0301", "\ud800"]
RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{d}" for p in ("COM", "LPT") for d in "123456789"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("Com1.tar.gz", "_Com1.tar.gz"),
        ("lpt9", "_lpt9"),
        ("aux .csv", "_aux .csv"),
        ("COM\u00b9.txt", "_COM\u00b9.txt"),
        ("CONSOLE.txt", "CONSOLE.txt"),
        ("COM10", "COM10"),
        ("invoice\u202egpj.exe", "invoice_gpj.exe"),
        ("\u2066x\u2069.txt", "_x_.txt"),
        ("..\u2215..\u2215etc\u2215passwd", "_.._etc_passwd"),
        ("a\uff0fb\uff3cc\u29f9d\u2044e", "a_b_c_d_e"),
        ("cafe\u0301.txt", "caf\u00e9.txt"),
        ("evil.exe. . .", "evil.exe"),
        (".bashrc", "bashrc"),
        ("...hidden", "hidden"),
        (". .", FALLBACK),
        ("\u202e", "_"),
        ("\ud800.txt", "_.txt"),
        ("C:evil.txt", "C_evil.txt"),
        ('a<b>c"d|e?f*g', "a_b_c_d_e_f_g"),
        ("e\x00\u0301.txt", "\u00e9.txt"),
    ],
)
def test_hostile_names(name: str, expected: str) -> None:
    assert safe_filename(name, FALLBACK) == expected


@pytest.mark.parametrize("name", ["a" * 300 + ".csv", "\u00e9" * 250 + ".csv", "\U0001f600" * 99])
def test_long_names_are_bounded_at_a_character_boundary(name: str) -> None:
    from cyberdesk_core.filenames import MAX_NAME_BYTES

    safe = safe_filename(name, FALLBACK)
    assert 0 < len(safe.encode("utf-8")) <= MAX_NAME_BYTES
    assert safe.endswith(".csv") == name.endswith(".csv")
    assert name.startswith(safe.removesuffix(".csv"))


def test_fallback_is_made_safe_too() -> None:
    assert safe_filename(None, "attachment-../../x") == "x"
    assert safe_filename("\x00", "..") == "attachment"


def test_numbered_candidates_stay_within_bounds() -> None:
    from cyberdesk_core.filenames import MAX_NAME_BYTES, numbered, temp_name

    assert [numbered("report.csv", n) for n in (1, 2, 3)] == [
        "report.csv",
        "report (2).csv",
        "report (3).csv",
    ]
    assert numbered("README", 2) == "README (2)"
    long = safe_filename("\u00e9" * 250 + ".csv", FALLBACK)
    assert len(numbered(long, 12345).encode("utf-8")) <= MAX_NAME_BYTES
    assert numbered(long, 12345).endswith(" (12345).csv")
    staged = temp_name(numbered(long, 12345))
    assert staged.startswith(".")
    assert staged.endswith(".part")
    assert len(staged.encode("utf-8")) <= 255


def test_unique_names_per_batch() -> None:
    from cyberdesk_core.filenames import UniqueNames

    names = UniqueNames(max_tries=4)
    on_disk = {"report (2).csv"}
    claimed = [names.claim("report.csv", on_disk.__contains__) for _ in range(3)]
    assert claimed == ["report.csv", "report (3).csv", "report (4).csv"]
    # Case-insensitive file systems would merge these.
    assert names.claim("REPORT.CSV") == "REPORT (2).CSV"
    with pytest.raises(DownloadError, match=r"No free file name for 'report\.csv'"):
        names.claim("report.csv")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.characters(), st.sampled_from(NASTY)), max_size=300).map("".join))
def test_any_name_is_one_harmless_component(name: str) -> None:
    from cyberdesk_core.filenames import MAX_NAME_BYTES, numbered, temp_name

    safe = safe_filename(name, FALLBACK)
    assert safe
    assert not set(safe) & {"/", "\\", os.sep}
    assert not any(c.isspace() or c == "." for c in (safe[0], safe[-1]))
    assert not any(unicodedata.category(c) in {"Cc", "Cs"} for c in safe)
    assert not set(safe) & set(BIDI + SLASHES + ':<>"|?*')
    assert safe.split(".", 1)[0].rstrip().upper() not in RESERVED
    assert unicodedata.is_normalized("NFC", safe)
    assert len(safe.encode("utf-8")) <= MAX_NAME_BYTES
    # The name, its numbered variants and its temp file all land inside the folder.
    with tempfile.TemporaryDirectory() as folder:
        for candidate in (safe, numbered(safe, 99999), temp_name(numbered(safe, 99999))):
            path = Path(folder, candidate)
            assert path.parent == Path(folder)
            assert os.path.dirname(os.path.normpath(path)) == folder
            path.write_bytes(b"x")
        assert len(os.listdir(folder)) == 3


# --- Names from a real server (the emulator over loopback): bounded, unique, never followed. ---

HOLD = "00000000-0000-4000-8000-0000000000b1"


@pytest.fixture(scope="module")
def emulator_run() -> Iterator[tuple[Any, str]]:
    """An emulator and a run (never scheduled: no machines) to attach files to."""
    from cyberdesk_emulator import EmulatorServer

    seed = {"workflows": [{"id": HOLD, "name": "hold", "behavior": {"duration": 10**6}}]}
    with (
        EmulatorServer(seed=seed) as server,
        CyberdeskClient(server.api_key, base_url=server.url) as setup,
    ):
        yield server, setup.runs.create(HOLD).id


@pytest.fixture
def real(emulator_run: tuple[Any, str]) -> Iterator[CyberdeskClient]:
    server, _ = emulator_run
    with CyberdeskClient(server.api_key, base_url=server.url) as c:
        yield c


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def attach(emulator_run: tuple[Any, str], filename: str, content: bytes = b"hello") -> str:
    server, run_id = emulator_run
    return str(server.admin.add_attachment(run_id, content, filename=filename)["id"])


@pytest.mark.parametrize(
    "name", ["a" * 250 + ".csv", "\u00e9" * 250 + ".csv"], ids=["ascii", "utf8"]
)
def test_server_names_of_250_bytes_and_more(
    name: str, emulator_run: tuple[Any, str], real: CyberdeskClient, tmp_path: Path
) -> None:
    result = real.run_attachments.download(attach(emulator_run, name), tmp_path)
    assert result.path is not None
    assert result.path.parent == tmp_path
    assert result.path.name.endswith(".csv")
    assert len(result.path.name.encode()) <= 200
    assert result.path.read_bytes() == b"hello"
    assert leftovers(tmp_path) == [result.path.name]


async def test_async_server_name_of_500_bytes(
    emulator_run: tuple[Any, str], tmp_path: Path
) -> None:
    server, _ = emulator_run
    attachment_id = attach(emulator_run, "\u00e9" * 250 + ".csv")
    async with AsyncCyberdeskClient(server.api_key, base_url=server.url) as aclient:
        result = await aclient.run_attachments.download(attachment_id, tmp_path)
    assert result.path is not None
    assert result.path.parent == tmp_path
    assert leftovers(tmp_path) == [result.path.name]


def test_same_names_in_one_batch_are_numbered(
    emulator_run: tuple[Any, str], real: CyberdeskClient, tmp_path: Path
) -> None:
    from cyberdesk_core.attachments import UniqueNames

    ids = [attach(emulator_run, "report.csv", c) for c in (b"one", b"two", b"three")]
    names = UniqueNames()
    paths = [real.run_attachments.download(i, tmp_path, names=names).path for i in ids]
    assert paths == [tmp_path / n for n in ("report.csv", "report (2).csv", "report (3).csv")]
    assert [p.read_bytes() for p in paths if p] == [b"one", b"two", b"three"]


def test_existing_files_and_symlinks_are_never_overwritten_or_followed(
    emulator_run: tuple[Any, str], real: CyberdeskClient, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"keep me")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "report.csv").write_bytes(b"yesterday")
    (folder / "report (2).csv").symlink_to(secret)
    (folder / "report (3).csv").symlink_to(tmp_path / "dangling")
    result = real.run_attachments.download(attach(emulator_run, "report.csv"), folder)
    assert result.path == folder / "report (4).csv"
    assert result.path.read_bytes() == b"hello"
    assert not result.path.is_symlink()
    assert (folder / "report.csv").read_bytes() == b"yesterday"
    assert secret.read_bytes() == b"keep me"
    assert not (tmp_path / "dangling").exists()
    # An explicit file path that is a symlink: the link is replaced, its target left alone.
    link = folder / "named.csv"
    link.symlink_to(secret)
    real.run_attachments.download(attach(emulator_run, "x.csv"), link)
    assert not link.is_symlink()
    assert link.read_bytes() == b"hello"
    assert secret.read_bytes() == b"keep me"
    assert len(leftovers(folder)) == 5


def test_names_stay_exclusive_without_hard_links(
    emulator_run: tuple[Any, str],
    real: CyberdeskClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_links(*_: Any, **__: Any) -> None:
        raise PermissionError(1, "hard links not supported")

    monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "report.csv").write_bytes(b"yesterday")
    result = real.run_attachments.download(attach(emulator_run, "report.csv"), tmp_path)
    assert result.path == tmp_path / "report (2).csv"
    assert result.path.read_bytes() == b"hello"
    assert (tmp_path / "report.csv").read_bytes() == b"yesterday"
    assert leftovers(tmp_path) == ["report (2).csv", "report.csv"]
