"""Request builders for what a run did and cost (pure: no I/O, shared by both clients).

Screenshot signed URLs, the trajectory and LLM costs of one run, and the organization's usage
aggregate (cyberdesk-api.md 4.10), with the query parameters the official SDK sends.
"""

from __future__ import annotations

from datetime import datetime

from cyberdesk_core._request import (
    MAX_SIGNED_URL_SECONDS,
    MIN_SIGNED_URL_SECONDS,
    Call,
    RequestSpec,
    build_params,
    check_expires_in,
    model_parser,
)
from cyberdesk_core._run_endpoints import segment
from cyberdesk_core.errors import ConfigurationError
from cyberdesk_core.history import ImageSignedUrl, Trajectory
from cyberdesk_core.usage import RunLlmCosts, UsageAggregate, UsageMode

__all__ = [
    "MAX_SIGNED_URL_SECONDS",
    "MIN_SIGNED_URL_SECONDS",
    "image_signed_url",
    "run_llm_costs",
    "run_trajectory",
    "usage_aggregate",
]


# No `resource` on these specs: their 404 means "no such screenshot/trajectory" as often as "no
# such run", so the error quotes the server's detail instead of claiming the run is missing.
def _run_path(run_id: str, suffix: str) -> str:
    return f"/v1/runs/{segment(run_id, 'run_id')}/{suffix}"


def image_signed_url(
    run_id: str, image_url: str, *, expires_in: int = MAX_SIGNED_URL_SECONDS
) -> Call[ImageSignedUrl]:
    """GET /v1/runs/{run_id}/image/signed-url: an HTTPS URL for a `supabase://` screenshot."""
    if not isinstance(image_url, str) or not image_url.strip():
        raise ConfigurationError("image_url must be the screenshot reference from the history.")
    check_expires_in(expires_in)
    spec = RequestSpec(
        "GET",
        _run_path(run_id, "image/signed-url"),
        params=build_params(image_url=image_url, expires_in=expires_in),
    )
    return Call(spec, model_parser(ImageSignedUrl))


def run_trajectory(run_id: str) -> Call[Trajectory]:
    """GET /v1/runs/{run_id}/trajectory."""
    spec = RequestSpec("GET", _run_path(run_id, "trajectory"))
    return Call(spec, model_parser(Trajectory))


def run_llm_costs(run_id: str) -> Call[RunLlmCosts]:
    """GET /v1/runs/{run_id}/llm-costs (the API may gate it behind a feature flag)."""
    spec = RequestSpec("GET", _run_path(run_id, "llm-costs"))
    return Call(spec, model_parser(RunLlmCosts))


def usage_aggregate(
    from_date: datetime, to_date: datetime, *, mode: UsageMode | str | None = None
) -> Call[UsageAggregate]:
    """GET /v1/usage/aggregate over [from_date, to_date]; naive datetimes are taken as UTC."""
    for field, value in (("from_date", from_date), ("to_date", to_date)):
        if not isinstance(value, datetime):
            raise ConfigurationError(f"{field} must be a datetime, got {value!r}.")
    if mode is not None:
        try:
            mode = UsageMode(mode)
        except ValueError:
            known = ", ".join(m.value for m in UsageMode)
            raise ConfigurationError(f"mode must be one of {known}, got {mode!r}.") from None
    params = build_params(from_date=from_date, to_date=to_date, mode=mode)
    return Call(
        RequestSpec("GET", "/v1/usage/aggregate", params=params), model_parser(UsageAggregate)
    )
