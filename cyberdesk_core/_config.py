"""Client settings resolved once, and the rules on where the API key may be sent.

The key travels in every request's Authorization header, so the base URL is checked before the
first request: https, or plain http only to this machine (loopback) unless explicitly allowed,
and never with a `user:password@` part. Each request's URL is checked again when it is built.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from cyberdesk_core.errors import ConfigurationError

__all__ = [
    "CLOUD_DASHBOARD_URL",
    "DEFAULT_BASE_URL",
    "ClientConfig",
    "check_base_url",
    "is_loopback_host",
]

DEFAULT_BASE_URL = "https://api.cyberdesk.io"
CLOUD_DASHBOARD_URL = "https://cyberdesk.io/dashboard/runs"
CLIENT_ALLOW_HINT = "pass allow_insecure_http=True to the client"

# `scheme://` followed by anything up to `@` before the first `/`: the userinfo to hide.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")


def _shown(url: str) -> str:
    """The URL as it may appear in a message: any `user:password@` part replaced."""
    return _USERINFO.sub(r"\1***@", url)


def is_loopback_host(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1: traffic that never leaves this machine."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_base_url(
    url: str,
    *,
    allow_insecure_http: bool = False,
    source: str = "base_url",
    allow_hint: str = CLIENT_ALLOW_HINT,
) -> str:
    """Check that the API key may be sent to `url`; returns it without a trailing slash.

    `source` says where the URL came from and `allow_hint` how to allow plain http, both for
    the error message (engines name their connection or block). Raises `ConfigurationError`.
    """
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"base_url {_shown(url)!r} (from {source}) must start with http:// or https://."
        )
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(
            f"base_url {_shown(url)!r} (from {source}) is not a valid URL: {exc}."
        ) from None
    if parsed.userinfo:
        # httpx would send these as Basic auth instead of the key, and print them in errors.
        raise ConfigurationError(
            f"base_url from {source} contains credentials: remove the user:password@ part "
            "(the API key authenticates every request)."
        )
    if not parsed.host:
        raise ConfigurationError(f"base_url {url!r} (from {source}) has no host.")
    if parsed.scheme == "http" and not allow_insecure_http and not is_loopback_host(parsed.host):
        raise ConfigurationError(
            f"Refusing plain http to {parsed.host!r} (base_url {url!r} from {source}): the API "
            "key would cross the network unencrypted. Use https://, or, on a trusted network "
            f"only, {allow_hint}."
        )
    return url.rstrip("/")


@dataclass(frozen=True)
class ClientConfig:
    """Resolved client settings; the API key stays a SecretStr until a request is built."""

    api_key: SecretStr
    base_url: str
    timeout: float
    allow_insecure_http: bool = False

    @classmethod
    def resolve(
        cls,
        api_key: str | SecretStr | None,
        base_url: str | None,
        timeout: float,
        allow_insecure_http: bool = False,
    ) -> ClientConfig:
        """Fill missing values from CYBERDESK_API_KEY / CYBERDESK_BASE_URL and check them."""
        raw = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        raw = raw or os.environ.get("CYBERDESK_API_KEY")
        if not raw:
            raise ConfigurationError(
                "No Cyberdesk API key: pass api_key=... or set the CYBERDESK_API_KEY environment "
                "variable."
            )
        if base_url:
            url, source = base_url, "the base_url argument"
        elif os.environ.get("CYBERDESK_BASE_URL"):
            url, source = os.environ["CYBERDESK_BASE_URL"], "CYBERDESK_BASE_URL"
        else:
            url, source = DEFAULT_BASE_URL, "the default"
        url = check_base_url(url, allow_insecure_http=allow_insecure_http, source=source)
        if timeout <= 0:
            raise ConfigurationError("timeout must be a positive number of seconds.")
        return cls(SecretStr(raw), url, timeout, allow_insecure_http)

    @functools.cached_property
    def _origin(self) -> tuple[str, str, int | None]:
        base = httpx.URL(self.base_url)
        return base.scheme, base.host, base.port

    def check_request_url(self, url: httpx.URL) -> None:
        """Refuse a request (it carries the key) to anywhere but the base URL's origin.

        Paths are relative and redirects are not followed, so this only fires if a path ever
        became an absolute URL; then nothing is sent.
        """
        if (url.scheme, url.host, url.port) != self._origin:
            raise ConfigurationError(
                f"Refusing to send the API key to {url.scheme}://{url.host}: requests go only to "
                f"the configured base URL {self.base_url}."
            )

    def run_url(self, run_id: str) -> str:
        """Dashboard page of a run."""
        host = httpx.URL(self.base_url).host
        if host == "cyberdesk.io" or host.endswith(".cyberdesk.io"):
            return f"{CLOUD_DASHBOARD_URL}/{run_id}"
        return f"{self.base_url}/dashboard/runs/{run_id}"
