"""Ids, behaviours and polling settings shared by the Prefect integration tests."""

from __future__ import annotations

from typing import Any, TypedDict

WF_OK = "11111111-1111-4111-8111-000000000001"
WF_ERROR = "11111111-1111-4111-8111-000000000002"
WF_TASK_FAILED = "11111111-1111-4111-8111-000000000003"
WF_SLOW = "11111111-1111-4111-8111-000000000004"
WF_DOUBLE = "11111111-1111-4111-8111-000000000005"
WF_FLIP = "11111111-1111-4111-8111-000000000006"
WF_MEDIUM = "11111111-1111-4111-8111-000000000007"
WF_STEPS = "11111111-1111-4111-8111-000000000008"
WF_STEPS_FAILED = "11111111-1111-4111-8111-000000000009"
WF_STEPS_LONG = "11111111-1111-4111-8111-00000000000a"
POOL_FAST = "22222222-2222-4222-8222-000000000001"

# Simulated seconds are divided by TIME_SCALE: a 2 s workflow takes 0.1 s of real time.
TIME_SCALE = 20.0


class PollOptions(TypedDict):
    """Polling keyword arguments of the single-run waits (`**POLL`)."""

    poll_interval: float
    max_poll_interval: float


class WatchOptions(TypedDict):
    """Polling keyword arguments of the multi-run waits and chains (`**WATCH`)."""

    poll_interval: float


POLL: PollOptions = {"poll_interval": 0.1, "max_poll_interval": 0.3}
# Multi-run waits poll in shared rounds at a fixed interval.
WATCH: WatchOptions = {"poll_interval": 0.1}

OK_BEHAVIOR: dict[str, Any] = {
    "duration": 2,
    "output": {"month": "{{ inputs.month }}", "total": 42},
    "files": [{"name": "tb_{{ inputs.month }}.csv", "content": "account,amount\n1000,42\n"}],
}
# An agent's steps; the first one says the `account` input, which the tests also send as a
# sensitive value, so a log line that shows it would leak a secret.
AGENT_STEPS: list[dict[str, Any]] = [
    {
        "text": "Signing in as {{ inputs.account }}",
        "tool": "computer",
        "tool_input": {"action": "screenshot"},
    },
    {"tool": "computer", "tool_input": {"action": "left_click", "target": "Ledger"}},
    {"tool": "computer", "tool_input": {"action": "left_click", "target": "Export"}},
    {"text": "Saving the export", "tool": "computer", "tool_input": {"action": "key"}},
]
REASON = "No invoices for October in the ERP"
SEED: dict[str, Any] = {
    "workflows": [
        {"id": WF_OK, "name": "monthly-report", "behavior": OK_BEHAVIOR},
        {
            "id": WF_ERROR,
            "name": "broken",
            "behavior": {"duration": 1, "outcome": "error", "error_message": "ERP unreachable"},
        },
        {
            "id": WF_TASK_FAILED,
            "name": "declares-failure",
            "behavior": {"duration": 1, "outcome": "task_failed", "error_message": "No invoices"},
        },
        {"id": WF_SLOW, "name": "slow", "behavior": {"duration": 3600}},
        {
            "id": WF_DOUBLE,
            "name": "double",
            "behavior": {"duration": 1, "output": {"value": "{{ inputs.value }}"}},
        },
        {"id": WF_FLIP, "name": "flip", "behavior": {"duration": 1, "outcome": "error"}},
        {"id": WF_MEDIUM, "name": "medium", "behavior": {"duration": 20}},
        # About 3 s of real time: its steps can be seen while it runs.
        {
            "id": WF_STEPS,
            "name": "month-end export",
            "behavior": {"duration": 60, "steps": AGENT_STEPS, "output": {"rows": 3}},
        },
        {
            "id": WF_STEPS_FAILED,
            "name": "import invoices",
            "behavior": {
                "duration": 10,
                "steps": AGENT_STEPS[1:3],
                "outcome": "task_failed",
                "error_message": REASON,
            },
        },
        # About 4 s of real time: longer than the 1 s between history reads the live-steps test
        # sets (the default is 15 s).
        {
            "id": WF_STEPS_LONG,
            "name": "long steps",
            "behavior": {"duration": 80, "steps": AGENT_STEPS},
        },
    ],
    "pools": [{"id": POOL_FAST, "name": "fast"}],
    "machines": [{"name": f"machine-{i}", "pools": ["fast"]} for i in range(12)],
}


def no_retry_credentials(emulator: Any) -> Any:
    """Credentials whose client never retries, so one injected fault fails the call."""
    from cyberdesk_prefect import CyberdeskCredentials

    return CyberdeskCredentials(api_key=emulator.api_key, base_url=emulator.url, max_retries=0)
