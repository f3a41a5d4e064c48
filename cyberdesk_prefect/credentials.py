"""The `CyberdeskCredentials` block: the API key and connection settings for Cyberdesk."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from prefect.blocks.abstract import CredentialsBlock
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

if TYPE_CHECKING:
    from prefect.blocks.core import Block

    from cyberdesk_core import AsyncCyberdeskClient, CyberdeskClient

DEFAULT_BASE_URL = "https://api.cyberdesk.io"


def block_dispatch_key(block: type[Block]) -> str:
    """The key Prefect registers a block class under: its block type slug.

    Prefect's default `__dispatch_key__` builds the class's whole block schema (its JSON
    schema twice, nested blocks included) only to return `schema.block_type.slug`, at every
    class definition, so at import. The slug is the same key at a fraction of that cost.
    """
    return block.get_block_type_slug()


@functools.lru_cache(maxsize=64)
def _dashboard_prefix(base_url: str) -> str:
    """What precedes a run id in its dashboard URL (parsing the URL once per base URL)."""
    from cyberdesk_core.transport import ClientConfig

    config = ClientConfig(api_key=SecretStr("unused"), base_url=base_url, timeout=1.0)
    return config.run_url("")


class CyberdeskCredentials(CredentialsBlock):
    """Credentials and connection settings for the Cyberdesk API.

    The API key is stored as a secret: Prefect hides it in the UI and API, and it is
    only revealed inside `get_client()` / `get_async_client()`.

    Attributes:
        api_key: The Cyberdesk API key (it starts with `cd_`).
        base_url: Base URL of the Cyberdesk API.
        timeout: Timeout in seconds for each HTTP request.
        max_retries: How many times a transient failure is retried.
        allow_insecure_http: Allow a plain `http://` base URL whose host is not this machine
            (the API key would cross the network unencrypted); off by default.

    Example:
        Load stored Cyberdesk credentials and list recent runs:
        ```python
        from cyberdesk_prefect import CyberdeskCredentials

        cyberdesk_credentials = CyberdeskCredentials.load("BLOCK_NAME")
        with cyberdesk_credentials.get_client() as client:
            print(client.runs.list(limit=5).items)
        ```
    """

    # Validation errors must not echo what was typed: it may be the API key or a URL password.
    model_config = ConfigDict(hide_input_in_errors=True)

    _block_type_name = "Cyberdesk Credentials"
    _block_type_slug = "cyberdesk-credentials"
    _logo_url = "https://docs.cyberdesk.io/logo/light.png"  # type: ignore[assignment]
    _documentation_url = "https://docs.cyberdesk.io/"  # type: ignore[assignment]
    _description = (
        "Stores a Cyberdesk API key and connection settings, and builds the sync and "
        "async Cyberdesk API clients used by the Cyberdesk tasks and blocks."
    )

    api_key: SecretStr = Field(
        default=...,
        title="API Key",
        description="The Cyberdesk API key from the Cyberdesk dashboard (starts with `cd_`).",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        title="Base URL",
        description="Base URL of the Cyberdesk API; change it only for a self-hosted or local API.",
    )
    timeout: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Timeout in seconds for each HTTP request to the Cyberdesk API.",
    )
    max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description=(
            "How many times a transient failure (429, 5xx, timeouts, dropped connections) "
            "is retried with backoff before the call fails."
        ),
    )

    allow_insecure_http: bool = Field(
        default=False,
        title="Allow plain http (insecure)",
        description=(
            "Send the API key over plain http to a base URL that is not this machine "
            "(localhost). Leave off unless the network is trusted; use https instead."
        ),
    )

    @classmethod
    def __dispatch_key__(cls) -> str:
        """The block registry key: the block type slug (see `block_dispatch_key`)."""
        return block_dispatch_key(cls)

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if not raw.strip():
            raise ValueError("api_key is empty: paste the key from the Cyberdesk dashboard.")
        # Checked before whitespace: "Bearer cd_..." needs this more specific advice.
        if raw.strip().lower().startswith("bearer"):
            raise ValueError("api_key must be the bare key, without the 'Bearer' prefix.")
        if raw != raw.strip() or any(ch.isspace() for ch in raw):
            raise ValueError(
                "api_key contains whitespace: copy the key again without spaces or line breaks."
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(
                # The value is not echoed: it may hold a user:password@ part.
                f"base_url is not an http(s) URL: use e.g. {DEFAULT_BASE_URL!r}."
            )
        if parsed.path.rstrip("/").endswith("/v1"):
            raise ValueError(
                "base_url must not include the '/v1' API prefix: use the bare host, "
                f"e.g. {DEFAULT_BASE_URL!r}."
            )
        return value

    @model_validator(mode="after")
    def _check_key_destination(self) -> CyberdeskCredentials:
        # The core's rule (https, or http only to loopback unless allowed; no user:password@),
        # checked when the block is made so a bad block is never saved.
        from cyberdesk_core.transport import check_base_url

        check_base_url(
            self.base_url,
            allow_insecure_http=self.allow_insecure_http,
            source="the CyberdeskCredentials block",
            allow_hint="set allow_insecure_http=True on the CyberdeskCredentials block",
        )
        return self

    def get_client(self, **overrides: Any) -> CyberdeskClient:
        """Build a sync Cyberdesk client; use it as a context manager so it is closed.

        Args:
            **overrides: Extra keyword arguments for `cyberdesk_core.CyberdeskClient`
                (for example `transport` or `retry_policy`).

        Returns:
            A `cyberdesk_core.CyberdeskClient`.
        """
        from cyberdesk_core import CyberdeskClient

        return CyberdeskClient(**self._client_kwargs(overrides))

    def get_async_client(self, **overrides: Any) -> AsyncCyberdeskClient:
        """Build an async Cyberdesk client; use it with `async with` so it is closed.

        Args:
            **overrides: Extra keyword arguments for `cyberdesk_core.AsyncCyberdeskClient`.

        Returns:
            A `cyberdesk_core.AsyncCyberdeskClient`.
        """
        from cyberdesk_core import AsyncCyberdeskClient

        return AsyncCyberdeskClient(**self._client_kwargs(overrides))

    def run_url(self, run_id: str) -> str:
        """Dashboard URL of a run, the same one the clients give (no client is built).

        Args:
            run_id: The run.

        Returns:
            The URL of the run's page in the Cyberdesk dashboard.
        """
        return _dashboard_prefix(self.base_url) + run_id

    def _client_kwargs(self, overrides: dict[str, Any]) -> dict[str, Any]:
        # The SecretStr is handed over as is: the core reveals it only in the auth header.
        kwargs: dict[str, Any] = {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "allow_insecure_http": self.allow_insecure_http,
        }
        kwargs.update(overrides)
        return kwargs
