"""One exception tree for everything the Cyberdesk client can raise, rooted at `CyberdeskError`.

`error_from_response` turns an HTTP error response into the right `APIError` subclass; it is a
pure function shared by the sync and async clients. Messages say what to do next and never
contain request bodies, headers or secrets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cyberdesk_core.models import Run

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AttachmentNotFoundError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "CyberdeskError",
    "DownloadError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RunCancelledError",
    "RunError",
    "RunFailedError",
    "RunTimeoutError",
    "ServerError",
    "ValidationError",
    "error_from_response",
    "is_transient",
    "parse_retry_after",
    "timeout_message",
]

_DETAIL_LIMIT = 500


def _restore(cls: type[CyberdeskError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class CyberdeskError(Exception):
    """Root of every error raised by `cyberdesk_core`."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructor arguments break the default exception pickling, and engines
        # ship exceptions between processes (Airflow triggerer, Prefect results).
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class ConfigurationError(CyberdeskError, ValueError):
    """Bad client-side input; raised before any request is sent (nothing was created remotely)."""


class APIError(CyberdeskError):
    """Cyberdesk answered with an HTTP error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        detail: Any = None,
        method: str = "",
        url: str = "",
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail
        self.method = method
        self.url = url
        self.request_id = request_id

    def __str__(self) -> str:
        suffix = f" [request id {self.request_id}]" if self.request_id else ""
        return f"{self.message}{suffix}"


class BadRequestError(APIError):
    """400: the request was rejected as invalid (e.g. retrying a run that is still active)."""


class AuthenticationError(APIError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIError):
    """403: the API key may not perform this operation."""


class NotFoundError(APIError):
    """404: the object does not exist or belongs to another organization."""


class ConflictError(APIError):
    """409: conflicting state, e.g. the same Idempotency-Key is still being processed."""

    def __init__(
        self, message: str, *, idempotency_in_progress: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.idempotency_in_progress = idempotency_in_progress


class ValidationError(APIError):
    """422: request validation failed; `errors` lists `{loc, msg, type}` per field."""

    def __init__(self, message: str, *, errors: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.errors = errors


class RateLimitError(APIError):
    """429: rate limited; `retry_after` is the server's suggested wait in seconds, if given."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx (or 408): a server-side or upstream failure; usually transient."""


class APIConnectionError(CyberdeskError):
    """The request never got an HTTP response (DNS, refused connection, reset, protocol error)."""


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class RunError(CyberdeskError):
    """A run ended (or was waited for) in a way the caller treats as a failure."""

    run: Run | None

    def __init__(self, message: str, run: Run | None, *, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run = run
        self.run_id = run_id if run_id is not None else (run.id if run is not None else None)


class RunFailedError(RunError):
    """The run ended with `error`, `task_failed` or an unknown terminal status."""

    run: Run

    def __init__(self, message: str, run: Run) -> None:
        super().__init__(message, run)
        self.status = run.status


class RunCancelledError(RunError):
    """The run was cancelled."""

    run: Run

    def __init__(self, message: str, run: Run) -> None:
        super().__init__(message, run)
        self.status = run.status


class RunTimeoutError(RunError):
    """The deadline passed before the run reached a terminal status; `run` is the last seen run."""

    def __init__(
        self,
        message: str,
        run: Run | None,
        *,
        run_id: str | None = None,
        deadline: datetime | None = None,
    ) -> None:
        super().__init__(message, run, run_id=run_id)
        self.deadline = deadline

    def after_cancel(self) -> RunTimeoutError:
        """The same timeout, worded for a run that was cancelled because of it.

        The engines cancel a run whose wait ran out (``cancel_on_abandon``); the original
        advice ("cancel it or wait longer") would then be wrong.
        """
        status = self.run.status.value if self.run is not None else "never read"
        return RunTimeoutError(
            timeout_message(
                [self.run_id or "?"], cancelled=True, deadline=self.deadline, last_status=status
            ),
            self.run,
            run_id=self.run_id,
            deadline=self.deadline,
        )


def timeout_message(
    run_ids: Sequence[str],
    *,
    cancelled: bool,
    deadline: datetime | None = None,
    last_status: str | None = None,
) -> str:
    """The one wording of "these runs did not finish in time", for the core and both engines.

    :param cancelled: the runs were cancelled because the wait ran out, so the message says so
        instead of advising to cancel them.
    :param deadline: when the wait gave up ("in time" if not given).
    :param last_status: the status last seen (one run).
    """
    one = len(run_ids) == 1
    subject = f"Cyberdesk run{'' if one else 's'} {', '.join(run_ids)}"
    when = f"before {deadline.isoformat()}" if deadline is not None else "in time"
    status = f" (last status: {last_status})" if last_status else ""
    if cancelled:
        return f"{subject} did not finish {when}{status} and {'was' if one else 'were'} cancelled."
    advice = (
        "The run keeps going remotely; cancel it or wait longer."
        if one
        else "The runs keep going remotely; cancel them or wait longer."
    )
    return f"{subject} did not finish {when}{status}. {advice}"


class DownloadError(CyberdeskError):
    """An attachment download failed (size mismatch, expired/invalid URL, bad destination)."""


class AttachmentNotFoundError(CyberdeskError, LookupError):
    """No attachment of the run matches the file name asked for (the message lists its files)."""


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is worth retrying later (network, 408/429/5xx, idempotency in flight)."""
    if isinstance(exc, APIConnectionError):
        return True
    if isinstance(exc, RateLimitError | ServerError):
        return True
    if isinstance(exc, ConflictError):
        return exc.idempotency_in_progress
    return False


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header (seconds or HTTP-date) into seconds from now (>= 0)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now if now is not None else datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())


def _clean_validation_errors(detail: object) -> list[dict[str, Any]]:
    # The `input` member of FastAPI validation errors echoes what was sent, which may include
    # sensitive values; it is dropped so it can never reach a message, a log or a traceback.
    if not isinstance(detail, Sequence) or isinstance(detail, str | bytes):
        return []
    cleaned: list[dict[str, Any]] = []
    for item in detail:
        if isinstance(item, Mapping):
            cleaned.append({k: v for k, v in item.items() if k != "input"})
    return cleaned


def _format_loc(loc: object) -> str:
    if isinstance(loc, Sequence) and not isinstance(loc, str | bytes):
        return ".".join(str(part) for part in loc)
    return str(loc)


def _short(detail: object) -> str:
    text = detail if isinstance(detail, str) else repr(detail)
    return text if len(text) <= _DETAIL_LIMIT else text[:_DETAIL_LIMIT] + "..."


def error_from_response(
    *,
    status_code: int,
    body: object,
    headers: Mapping[str, str],
    method: str,
    url: str,
    resource: tuple[str, str] | None = None,
    attempts: int = 1,
) -> APIError:
    """Build the `APIError` subclass for an HTTP error response.

    `body` is the decoded JSON body (or text); `resource` names the object the request was about
    (e.g. `("run", run_id)`) so a 404 can say which id was missing; `attempts` is how many tries
    the transport made, mentioned for retryable statuses.
    """
    detail = body.get("detail", body) if isinstance(body, Mapping) else body
    lower = {k.lower(): v for k, v in headers.items()}
    request_id = lower.get("x-request-id") or lower.get("request-id")
    common: dict[str, Any] = {
        "status_code": status_code,
        "method": method,
        "url": url,
        "request_id": request_id,
    }
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    what = f"{method} {url}"
    if status_code == 401:
        msg = (
            "Cyberdesk rejected the API key (401). "
            "Check CYBERDESK_API_KEY / the connection's password."
        )
        return AuthenticationError(msg, detail=detail, **common)
    if status_code == 403:
        msg = (
            f"Cyberdesk refused {what} (403): {_short(detail)}. "
            "Check that the API key belongs to the right organization and may do this."
        )
        return PermissionDeniedError(msg, detail=detail, **common)
    if status_code == 404:
        if resource is not None:
            kind, ident = resource
            msg = (
                f"Cyberdesk {kind} {ident} was not found (404). Check the id and that it belongs "
                "to the API key's organization."
            )
        else:
            msg = (
                f"Cyberdesk returned 404 for {what}: {_short(detail)}. Check the ids and base URL."
            )
        return NotFoundError(msg, detail=detail, **common)
    if status_code == 422:
        errors = _clean_validation_errors(detail)
        if errors:
            fields = "; ".join(f"{_format_loc(e.get('loc'))}: {e.get('msg')}" for e in errors)
        else:
            fields = _short(detail)
        msg = f"Cyberdesk rejected the request {what} (422): {fields}. Fix these fields and retry."
        return ValidationError(msg, errors=errors, detail=errors or detail, **common)
    if status_code == 400:
        msg = f"Cyberdesk rejected {what} (400): {_short(detail)}. Fix the request parameters."
        return BadRequestError(msg, detail=detail, **common)
    if status_code == 409:
        in_progress = lower.get("idempotency-status", "").lower() == "in_progress"
        hint = (
            "a request with the same Idempotency-Key is still being processed; retry shortly"
            if in_progress
            else "the object is in a conflicting state; check its current status"
        )
        msg = f"Cyberdesk reported a conflict for {what} (409){tried}: {_short(detail)}; {hint}."
        return ConflictError(msg, idempotency_in_progress=in_progress, detail=detail, **common)
    if status_code == 429:
        retry_after = parse_retry_after(lower.get("retry-after"))
        when = f" (Retry-After {retry_after:g} s)" if retry_after is not None else ""
        msg = f"Cyberdesk rate-limited {what} (429){tried}{when}. Slow down or retry later."
        return RateLimitError(msg, retry_after=retry_after, detail=detail, **common)
    if status_code == 408 or status_code >= 500:
        msg = (
            f"Cyberdesk failed to serve {what} ({status_code}){tried}: {_short(detail)}. "
            "This is usually temporary; retry later."
        )
        return ServerError(msg, detail=detail, **common)
    msg = f"Cyberdesk returned an unexpected status {status_code} for {what}: {_short(detail)}."
    return APIError(msg, detail=detail, **common)
