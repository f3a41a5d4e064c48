"""Safe, bounded, unique file names for downloads: the one place that trusts no server filename.

`safe_filename` turns any server-supplied name into a single harmless path component;
`UniqueNames` hands out `report.csv`, `report (2).csv`, ... within one download batch, skipping
names the destination already holds; `temp_name` names the hidden file a download is staged in.
Final names never start with a dot and temporary names always do, so the two never collide.
"""

from __future__ import annotations

import re
import secrets
import threading
import unicodedata
from collections.abc import Callable

from cyberdesk_core.errors import DownloadError

__all__ = ["MAX_NAME_BYTES", "UniqueNames", "numbered", "safe_filename", "temp_name"]

#: Longest final name in UTF-8 bytes. Most file systems allow 255; the rest is room for the
#: temporary name (".<name>.<token>.part") and a " (12345)" uniqueness suffix.
MAX_NAME_BYTES = 200
#: An extension longer than this is not kept apart when a long name is shortened.
_MAX_EXT_BYTES = 32

# Removed: C0/C1 controls, DEL, line and paragraph separators.
_DROP = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Replaced by "_": bidi controls (they disguise extensions), slash look-alikes (they fake
# folders when shown), characters Windows forbids (":" would open a drive-relative path or an
# alternate data stream) and lone surrogates (they cannot be encoded as a file name).
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_SLASHES = "\u0337\u0338\u2044\u2215\u2571\u27cb\u29f8\u2f03\uff0f"
_BACKSLASHES = "\u20e5\u2216\u2572\u27cd\u29f5\u29f9\ufe68\uff3c"
_REPLACE = re.compile(f'[{_BIDI}{_SLASHES}{_BACKSLASHES}<>:"|?*\ud800-\udfff]')
# Leading dots would hide the file (or spell "." / ".."); Windows drops trailing dots and spaces.
_EDGES = re.compile(r"^[\s.]+|[\s.]+$")
# Device names Windows opens instead of a file, whatever the extension or case.
_DIGITS = "0123456789\u00b9\u00b2\u00b3"
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in _DIGITS}
)


def safe_filename(name: str | None, fallback: str) -> str:
    """A harmless basename for `name`, or for `fallback` (e.g. ``attachment-<id>``) if none is left.

    Keeps only the last path component (``/`` and ``\\``), drops control characters, replaces
    bidi controls, slash look-alikes and Windows-forbidden characters with ``_``, strips leading
    dots and trailing dots/spaces, defuses Windows device names (``CON.txt`` -> ``_CON.txt``),
    normalises to NFC and shortens to `MAX_NAME_BYTES` UTF-8 bytes keeping the extension.
    """
    return _clean(name or "") or _clean(fallback) or "attachment"


def _clean(name: str) -> str:
    text = unicodedata.normalize("NFC", name)
    text = re.split(r"[/\\]", text)[-1]
    text = _REPLACE.sub("_", _DROP.sub("", text))
    text = _EDGES.sub("", unicodedata.normalize("NFC", text))
    if text.split(".", 1)[0].rstrip().upper() in _RESERVED:
        text = f"_{text}"
    return _fit(text, MAX_NAME_BYTES)


def _fit(text: str, limit: int) -> str:
    """`text` shortened to `limit` UTF-8 bytes at a character boundary, extension kept."""
    if len(text.encode("utf-8")) <= limit:
        return text
    stem, ext = _split_ext(text)
    if len(ext.encode("utf-8")) > _MAX_EXT_BYTES:
        stem, ext = text, ""
    room = limit - len(ext.encode("utf-8"))
    stem = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    # Shortening may end the stem on a dot or space, or cut a character from its accent.
    return _EDGES.sub("", unicodedata.normalize("NFC", stem)) + ext


def _split_ext(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    return (name[:dot], name[dot:]) if dot > 0 else (name, "")


def numbered(name: str, n: int) -> str:
    """Candidate `n` for `name`: the name itself for 1, else ``stem (n).ext`` within the bound."""
    if n <= 1:
        return name
    stem, ext = _split_ext(name)
    suffix = f" ({n}){ext}"
    return _fit(stem, MAX_NAME_BYTES - len(suffix.encode("utf-8"))) + suffix


def temp_name(name: str) -> str:
    """Hidden, random staging name beside `name` (fits in 255 bytes for any `name`)."""
    return f".{_fit(name, MAX_NAME_BYTES)}.{secrets.token_hex(4)}.part"


def _never(_: str) -> bool:
    return False


class UniqueNames:
    """Names handed out to one download batch; thread-safe, shared by the files of the batch.

    Names are compared case-insensitively (``Report.csv`` and ``report.csv`` would be one file
    on Windows and macOS). `claim` does not make a name race-free on its own: local downloads
    also create the final name exclusively (see `DownloadSink`) and claim again when it exists.
    """

    def __init__(self, max_tries: int = 10_000) -> None:
        self._used: set[str] = set()
        self._lock = threading.Lock()
        self._max_tries = max_tries

    def claim(self, name: str, taken: Callable[[str], bool] = _never) -> str:
        """First of `name`, ``name (2)``, ... not yet used in this batch and not `taken`."""
        with self._lock:
            for n in range(1, self._max_tries + 1):
                candidate = numbered(name, n)
                key = candidate.casefold()
                if key not in self._used and not taken(candidate):
                    self._used.add(key)
                    return candidate
        raise DownloadError(
            f"No free file name for {name!r} after {self._max_tries} tries. Download into an "
            "empty folder."
        )
