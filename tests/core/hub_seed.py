"""Workflows of the emulator that the watch hub tests wait on."""

from __future__ import annotations

from typing import Any

WF_OK = "11111111-1111-4111-8111-000000000001"
WF_SLOW = "11111111-1111-4111-8111-000000000004"

HUB_SEED: dict[str, Any] = {
    "workflows": [
        {"id": WF_OK, "name": "monthly-report", "behavior": {"duration": 2}},
        {"id": WF_SLOW, "name": "slow", "behavior": {"duration": 3600}},
    ],
    "machines": [{"name": f"machine-{i}"} for i in range(12)],
}
