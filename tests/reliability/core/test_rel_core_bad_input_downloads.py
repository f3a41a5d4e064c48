"""Bad input catalogue (downloads): whatever name or body a server sends, a download writes only
complete files, only inside the destination folder, under a safe name that replaces nothing,
and stops at the attachment's advertised size.

Names come from the emulator over loopback (its admin route attaches raw files under any name).
What a real server cannot easily produce (a body longer than advertised, a gzip bomb, a lone
surrogate in the JSON) comes from a scripted httpx transport.
"""

from __future__ import annotations

import io
import json
import os
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from rel_core_env import SLOW_WORKFLOW

from cyberdesk_core import APIConnectionError, CyberdeskClient, DownloadError

MB = 1024 * 1024
OUTSIDE = b"keep me"
RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{d}" for p in ("COM", "LPT") for d in "123456789"}
UNSAFE = set('/\\:<>"|?*\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069')
UNSAFE |= set("\u2044\u2215\u2571\u29f8\uff0f\uff3c\u29f9\u2216\u2572\u29f5\ufe68")


@dataclass
class Env:
    """A sandbox (``root``: the destination folder, one file beside it) and a run to attach to."""

    client: CyberdeskClient
    admin: Any
    run_id: str
    root: Path
    planted: dict[str, bytes | Path] = field(default_factory=dict)
    served: set[bytes] = field(default_factory=set)
    pulled: list[int] = field(default_factory=list)
    buffers: list[io.BytesIO] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.root / "dest"

    def attach(self, filename: str, content: bytes = b"hello") -> str:
        self.served.add(content)
        return str(self.admin.add_attachment(self.run_id, content, filename=filename)["id"])

    def plant(self, name: str, what: bytes | Path) -> None:
        """Put a file (bytes) or a symlink (Path) in the destination before the download."""
        if isinstance(what, Path):
            (self.folder / name).symlink_to(what)
        else:
            (self.folder / name).write_bytes(what)
        self.planted[name] = what

    def scripted(
        self,
        body: Iterator[bytes],
        *,
        filename: str = "report.csv",
        headers: dict[str, str] | None = None,
    ) -> CyberdeskClient:
        """A client whose server advertises a 5-byte ``filename`` and then sends ``body``."""
        meta = {
            "id": "att-1",
            "run_id": self.run_id,
            "filename": filename,
            "content_type": "text/csv",
            "attachment_type": "output",
            "size_bytes": 5,
        }
        self.served.add(b"hello")

        def handle(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/download"):
                return httpx.Response(200, headers=headers, content=body)
            return httpx.Response(200, content=json.dumps(meta).encode(), headers=JSON)

        transport = httpx.MockTransport(handle)
        return CyberdeskClient("k", base_url="https://cyberdesk.test", transport=transport)

    def counted(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            self.pulled.append(len(piece))
            yield piece


JSON = {"content-type": "application/json"}


def _zeros(megabytes: int) -> Iterator[bytes]:
    return (bytes(MB) for _ in range(megabytes))


def _gzip_bomb(megabytes: int) -> Iterator[bytes]:
    """Zeros gzip-compressed about 1000:1, lazily: only what the client pulls is produced."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    for block in _zeros(megabytes):
        if piece := packer.compress(block):
            yield piece
    yield packer.flush()


def _named(filename: str) -> Callable[[Env], Any]:
    return lambda env: env.client.run_attachments.download(env.attach(filename), env.folder)


def _scripted(
    body: Callable[[], Iterator[bytes]], filename: str = "report.csv", **headers: str
) -> Callable[[Env], Any]:
    def call(env: Env) -> Any:
        scripted = env.scripted(env.counted(body()), filename=filename, headers=headers)
        with scripted as client:
            return client.run_attachments.download("att-1", env.folder)

    return call


def _into_file_object(env: Env) -> Any:
    env.buffers.append(io.BytesIO())
    with env.scripted(env.counted(_zeros(400))) as client:
        return client.run_attachments.download("att-1", env.buffers[-1])


def _truncated_into_existing_file(env: Env) -> Any:
    def body() -> Iterator[bytes]:
        yield b"hel"
        raise httpx.ReadError("connection reset")

    env.plant("report.csv", b"yesterday")
    with env.scripted(body()) as client:
        return client.run_attachments.download("att-1", env.folder / "report.csv")


def _symlink_at_name(target: str) -> Callable[[Env], Any]:
    def call(env: Env) -> Any:
        env.plant("report.csv", env.root / target)
        return _named("report.csv")(env)

    return call


def _existing_file(env: Env) -> Any:
    env.plant("report.csv", b"yesterday")
    return _named("report.csv")(env)


def _same_name_twice(env: Env) -> Any:
    from cyberdesk_core.attachments import UniqueNames

    names = UniqueNames()
    ids = [env.attach("report.csv", body) for body in (b"one", b"two")]
    return [env.client.run_attachments.download(i, env.folder, names=names) for i in ids]


@dataclass(frozen=True)
class Case:
    """One hostile download: what to call, the error expected (None: it must succeed safely),
    and words its message must contain."""

    call: Callable[[Env], Any]
    error: type[Exception] | None = None
    words: tuple[str, ...] = ()


SIZE = ("att-1", "more than its advertised size of 5 bytes")
CASES: dict[str, Case] = {
    # Partial files and symlinks at the final name.
    "symlink-at-final-name": Case(_symlink_at_name("outside.txt")),
    "dangling-symlink-at-final-name": Case(_symlink_at_name("missing.txt")),
    "truncated-body-keeps-previous-file": Case(
        _truncated_into_existing_file, APIConnectionError, ("ReadError",)
    ),
    # Bodies past the advertised size.
    "body-400mb-for-5-bytes": Case(_scripted(lambda: _zeros(400)), DownloadError, SIZE),
    "content-length-past-size": Case(
        _scripted(lambda: _zeros(1), **{"content-length": "419430400"}),
        DownloadError,
        ("att-1", "announced 419430400 bytes"),
    ),
    "gzip-bomb": Case(
        _scripted(lambda: _gzip_bomb(300), **{"content-encoding": "gzip"}), DownloadError, SIZE
    ),
    "file-object-past-size": Case(_into_file_object, DownloadError, (*SIZE, "file object")),
    # Long names (the temp file's prefix and suffix must fit too).
    "name-254-ascii-bytes": Case(_named("a" * 250 + ".csv")),
    "name-504-utf8-bytes": Case(_named("\u00e9" * 250 + ".csv")),
    "name-804-emoji-bytes": Case(_named("\U0001f600" * 200 + ".csv")),
    # Two files, one name.
    "same-name-twice-in-batch": Case(_same_name_twice),
    "existing-file-with-that-name": Case(_existing_file),
    # Odd bytes.
    "dot-dot-slash": Case(_named("../outside.txt")),
    "backslash-traversal": Case(_named("..\\..\\outside.txt")),
    "absolute-path": Case(_named("/etc/passwd")),
    "fraction-slash-traversal": Case(_named("..\u2044outside.txt")),
    "division-slash-traversal": Case(_named("..\u2215..\u2215outside.txt")),
    "fullwidth-solidus": Case(_named("..\uff0foutside.txt")),
    "fullwidth-reverse-solidus": Case(_named("..\uff3coutside.txt")),
    "bidi-extension-spoof": Case(_named("invoice\u202ecod.exe")),
    "windows-device-name": Case(_named("CON.txt")),
    "windows-device-name-lowercase": Case(_named("com1")),
    "drive-relative-name": Case(_named("C:outside.txt")),
    "hidden-dotfile": Case(_named(".bashrc")),
    "trailing-dots-and-spaces": Case(_named("evil.exe. . ")),
    "c1-control-character": Case(_named("a\x85b.txt")),
    "decomposed-unicode": Case(_named("cafe\u0301.csv")),
    "lone-surrogates-in-json": Case(_scripted(lambda: iter([b"hello"]), "\ud800x\udcff.csv")),
    "nothing-left-after-cleaning": Case(_named("\x00\x1f")),
}


def harmless(name: str) -> bool:
    """One visible, portable path component that fits (with its temp file) in 255 bytes."""
    return (
        not set(name) & UNSAFE
        and not name.startswith(".")
        and name == name.strip(" .")
        and not any(unicodedata.category(c) in {"Cc", "Cs"} for c in name)
        and unicodedata.is_normalized("NFC", name)
        and name.split(".", 1)[0].upper() not in RESERVED
        and len(name.encode("utf-8")) <= 200
    )


def assert_contained(env: Env) -> None:
    """Nothing outside the folder changed; inside it only planted or complete, served files."""
    assert sorted(p.name for p in env.root.iterdir()) == ["dest", "outside.txt"]
    assert (env.root / "outside.txt").read_bytes() == OUTSIDE
    for path in env.folder.iterdir():
        planted = env.planted.get(path.name)
        if isinstance(planted, Path):
            assert path.is_symlink(), f"{path.name}: planted symlink was replaced"
            assert Path(os.readlink(path)) == planted
        elif planted is not None:
            assert path.read_bytes() == planted, f"{path.name}: planted file was overwritten"
        else:
            assert not path.is_symlink()
            assert path.read_bytes() in env.served, f"{path.name}: partial or foreign content"
    assert len(env.pulled) <= 2, f"read {sum(env.pulled)} bytes past the advertised size"
    assert all(len(b.getvalue()) <= 5 for b in env.buffers)


@pytest.fixture(scope="module")
def run_id(emulator: Any) -> Iterator[str]:
    """An active run that the cases attach their files to."""
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        run = client.runs.create(SLOW_WORKFLOW)
        yield run.id
        client.runs.cancel(run.id)


@pytest.fixture
def env(emulator: Any, admin: Any, run_id: str, tmp_path: Path) -> Iterator[Env]:
    (tmp_path / "dest").mkdir()
    (tmp_path / "outside.txt").write_bytes(OUTSIDE)
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        yield Env(client, admin, run_id, tmp_path)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_download_stays_in_its_folder(name: str, env: Env) -> None:
    case = CASES[name]
    if case.error is None:
        outcome = case.call(env)
        for result in outcome if isinstance(outcome, list) else [outcome]:
            assert result.path.parent == env.folder
            assert harmless(result.path.name), result.path.name
            assert result.path.read_bytes() in env.served
    else:
        with pytest.raises(case.error) as caught:
            case.call(env)
        for word in case.words:
            assert word in str(caught.value), (word, str(caught.value))
    assert_contained(env)


def test_catalogue_covers_every_finding() -> None:
    assert len(CASES) >= 25
