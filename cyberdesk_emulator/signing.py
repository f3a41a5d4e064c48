"""HMAC signatures: signed attachment download URLs and Svix v1 webhook signatures."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from urllib.parse import urlencode


class UrlSigner:
    """Signs ``(attachment id, expiry)`` pairs with a per-server random key."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def __repr__(self) -> str:
        return "UrlSigner(key=<hidden>)"

    def sign(self, attachment_id: str, expires: int) -> str:
        """Hex signature of an attachment id and its absolute expiry (Unix seconds)."""
        msg = f"{attachment_id}:{expires}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def signed_query(self, subject: str, expires: int) -> str:
        """``expires=...&signature=...``: the query string of a key-less signed URL."""
        return urlencode({"expires": expires, "signature": self.sign(subject, expires)})

    def check(
        self, attachment_id: str, expires: int, signature: str, now: float | None = None
    ) -> str:
        """``""`` when valid, else the reason the URL is refused."""
        expected = self.sign(attachment_id, expires)
        if not hmac.compare_digest(expected, signature):
            return "Invalid signature"
        if (time.time() if now is None else now) > expires:
            return "Signed URL has expired"
        return ""


def svix_headers(
    secret: str, msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """Headers of a Svix-compatible delivery: ``svix-id``, ``svix-timestamp``, ``svix-signature``.

    Key = base64-decoded secret without its ``whsec_`` prefix; signed content =
    ``{id}.{timestamp}.{body}``; HMAC-SHA256, base64, prefixed ``v1,``.
    """
    ts = int(time.time()) if timestamp is None else timestamp
    raw_secret = secret.removeprefix("whsec_")
    key = base64.b64decode(raw_secret)
    signed = f"{msg_id}.{ts}.".encode() + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(ts),
        "svix-signature": f"v1,{digest}",
        "content-type": "application/json",
    }


def check_webhook_secret(secret: str) -> str:
    """``secret`` when it is usable as a Svix signing key, else ValueError (never echoing it).

    Svix secrets are ``whsec_`` + base64 of the key bytes; a value that does not decode would
    only fail later, inside a delivery.
    """
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise ValueError(
            "secret must be 'whsec_' followed by base64-encoded key bytes (as Svix issues "
            "them); omit it to have one generated"
        )
    return secret


def new_webhook_secret() -> str:
    """A fresh ``whsec_`` secret."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
