"""Attachment media types: what a stored ``content_type`` may be, and how files are served.

A ``content_type`` ends up in a response header of every download, so a CR, LF or NUL in it
broke each of them (the server refuses to send such a header and drops the connection); it is
checked as ``type/subtype[; name=value]...`` in printable ASCII when stored. Files are always
served as downloads (``Content-Disposition: attachment``) with ``nosniff`` and a sandboxing CSP;
types a browser would execute (HTML, SVG, XML, JavaScript) go out as
``application/octet-stream``, since the signed URL serves them without the API key.
"""

from __future__ import annotations

import re
from urllib.parse import quote

# RFC 9110 token characters; quoted parameter values may hold any printable ASCII.
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[ !#-\[\]-~]|\\[ -~])*"'
_BODY = rf"{_TCHARS}/{_TCHARS}(?: *; *{_TCHARS}=(?:{_TCHARS}|{_QUOTED}))* *"
#: For the OpenAPI document (ECMA ``$`` is the end of the text; Python uses ``fullmatch``).
MEDIA_TYPE_PATTERN = f"^{_BODY}$"
_MEDIA_TYPE = re.compile(_BODY)
MEDIA_TYPE_MESSAGE = (
    "content_type must be a media type such as 'text/csv' or 'text/csv; charset=utf-8' "
    "(type/subtype with optional parameters, printable ASCII only)"
)

SAFE_DOWNLOAD_TYPE = "application/octet-stream"
_SCRIPT_WORDS = ("html", "javascript", "ecmascript", "jscript", "vbscript")
_ACTIVE_SUBTYPES = frozenset({"xml", "xsl", "xslt", "pdf", "x-shockwave-flash", "cache-manifest"})


def check_media_type(value: str) -> str:
    """``value`` when it is a well-formed media type, else ValueError (message names the field)."""
    if not _MEDIA_TYPE.fullmatch(value):
        raise ValueError(MEDIA_TYPE_MESSAGE)
    return value


def is_active(content_type: str) -> bool:
    """True for types a browser renders or runs: HTML, XML (SVG, XHTML...), scripts, PDF.

    ``+xml`` is active (``image/svg+xml``) but OOXML documents (``...sheet``) are not.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = media.partition("/")
    return (
        main == "multipart"
        or sub in _ACTIVE_SUBTYPES
        or sub.endswith("+xml")
        or any(word in sub for word in _SCRIPT_WORDS)
    )


def served_type(content_type: str) -> str:
    """The ``Content-Type`` a download is sent with."""
    if is_active(content_type) or not _MEDIA_TYPE.fullmatch(content_type):
        return SAFE_DOWNLOAD_TYPE
    return content_type


def download_headers(filename: str) -> dict[str, str]:
    """Headers of every file download (besides Content-Type / Content-Length).

    ``filename*`` (RFC 6266 / RFC 5987) percent-encodes everything outside the attr-char set,
    so no quote, semicolon, CR or LF of a filename reaches the header.
    """
    encoded = quote(filename.encode("utf-8", "replace"), safe="")
    return {
        "Content-Disposition": f"attachment; filename*=UTF-8''{encoded}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
    }
