"""Status enums; `RunStatus` tolerates values added by future API versions."""

from __future__ import annotations

import logging
import threading
from enum import Enum

__all__ = ["TERMINAL_STATUSES", "AttachmentType", "MachineStatus", "RunStatus"]

logger = logging.getLogger("cyberdesk_core")

_unknown_lock = threading.Lock()


class RunStatus(str, Enum):
    """Status of a run. Unknown values become non-terminal pseudo-members (`is_known` is False)."""

    SCHEDULING = "scheduling"
    RUNNING = "running"
    RUNNING_CHECKS = "running_checks"
    SUCCESS = "success"
    TASK_FAILED = "task_failed"
    ERROR = "error"
    CANCELLED = "cancelled"

    @classmethod
    def _missing_(cls, value: object) -> RunStatus | None:
        # A newer API may add statuses; failing to parse a run would break every waiter, so an
        # unknown string becomes a cached pseudo-member that counts as "keep waiting".
        if not isinstance(value, str) or not value:
            return None
        with _unknown_lock:
            member = _UNKNOWN.get(value)
            if member is None:
                member = str.__new__(cls, value)
                member._name_ = value.upper()
                member._value_ = value
                _UNKNOWN[value] = member
                logger.warning(
                    "Cyberdesk returned an unknown run status %r; treating it as not finished.",
                    value,
                )
        return member

    def __str__(self) -> str:
        return str(self.value)

    @property
    def is_known(self) -> bool:
        """False for statuses this client version does not know."""
        return self.value not in _UNKNOWN

    @property
    def is_terminal(self) -> bool:
        """True for success, task_failed, error and cancelled; unknown values are not terminal."""
        return self in TERMINAL_STATUSES


_UNKNOWN: dict[str, RunStatus] = {}

TERMINAL_STATUSES: frozenset[RunStatus] = frozenset(
    {RunStatus.SUCCESS, RunStatus.TASK_FAILED, RunStatus.ERROR, RunStatus.CANCELLED}
)


class AttachmentType(str, Enum):
    """Whether an attachment was supplied with the run (`input`) or exported by it (`output`)."""

    INPUT = "input"
    OUTPUT = "output"

    def __str__(self) -> str:
        return str(self.value)


class MachineStatus(str, Enum):
    """Connection status of a machine."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    ERROR = "error"

    def __str__(self) -> str:
        return str(self.value)
