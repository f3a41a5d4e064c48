"""Constants of the core reliability suite: the emulator seed and the ids it preloads.

A uniquely named module (not ``conftest``) so imports stay unambiguous when several test folders
are collected in one pytest session.
"""

from __future__ import annotations

from typing import Any

#: Simulated seconds per real second.
TIME_SCALE = 50.0
MACHINES = 48

#: Echoes its inputs, so every pipeline's output can be checked against what it sent.
ECHO_WORKFLOW = "0e0e0e0e-0000-4000-8000-000000000001"
SLOW_WORKFLOW = "0e0e0e0e-0000-4000-8000-000000000002"
FILES_WORKFLOW = "0e0e0e0e-0000-4000-8000-000000000003"
POOL_ID = "0e0e0e0e-0000-4000-8000-0000000000a1"

SEED: dict[str, Any] = {
    "workflows": [
        {
            "id": ECHO_WORKFLOW,
            "name": "echo",
            "behavior": {
                "duration": [0.5, 3],
                "output": {"n": "{{ inputs.n }}", "tag": "{{ inputs.tag | upper }}"},
            },
        },
        {"id": SLOW_WORKFLOW, "name": "slow", "behavior": {"duration": 100_000}},
        {
            "id": FILES_WORKFLOW,
            "name": "files",
            "behavior": {"duration": 1, "files": [{"name": "out.txt", "content": "hello"}]},
        },
    ],
    "pools": [{"id": POOL_ID, "name": "main"}],
    "machines": [{"name": f"desk-{i}", "pools": ["main"]} for i in range(MACHINES)],
}
