"""Usage of finished runs: agentic and cached steps, billing outcome and an LLM cost breakdown.

Billing follows the contract's note: ``success``, ``task_failed`` and ``cancelled`` runs are
billed; ``error`` runs are infrastructure failures and cost nothing (``billing_outcome``
``infra_failure``, zero billed steps). The ``simulated`` usage mode sums every counted step of
runs that are not infrastructure failures; ``billed`` sums the billed counters.
"""

from __future__ import annotations

from typing import Any

from cyberdesk_emulator.schemas import RunStatus
from cyberdesk_emulator.state import Run

BILLED_STATUSES = (RunStatus.success, RunStatus.task_failed, RunStatus.cancelled)
MAIN_MODEL = "claude-sonnet-4-5"
# Simulated token use per agentic step and prices in USD per million tokens.
INPUT_TOKENS_PER_STEP = 2400
CACHE_READ_TOKENS_PER_STEP = 1800
OUTPUT_TOKENS_PER_STEP = 160
PRICE_INPUT = 3.0
PRICE_CACHE_READ = 0.3
PRICE_OUTPUT = 15.0


def count_steps(run: Run) -> tuple[int, int]:
    """``(agentic, cached)`` tool-calling assistant messages of the run's history."""
    agentic = cached = 0
    for item in run.run_message_history or []:
        if item.get("role") != "assistant":
            continue
        if not any(b.get("type") == "tool_use" for b in item.get("content") or []):
            continue
        if item.get("trajectory_id"):
            cached += 1
        else:
            agentic += 1
    return agentic, cached


def usage_metadata(run: Run) -> dict[str, Any]:
    """``usage_metadata`` of a run that just reached a terminal status."""
    agentic, cached = count_steps(run)
    billed = run.status in BILLED_STATUSES
    return {
        "total_agentic_steps": agentic,
        "total_cached_steps": cached,
        "total_agentic_steps_billed": agentic if billed else 0,
        "total_cached_steps_billed": cached if billed else 0,
        "billing_outcome": "billed" if billed else "infra_failure",
    }


def counted_steps(usage: dict[str, Any], mode: str) -> tuple[int, int] | None:
    """Steps a run contributes to an aggregate in ``mode``; None when the run is not counted."""
    if mode == "billed":
        return int(usage.get("total_agentic_steps_billed", 0)), int(
            usage.get("total_cached_steps_billed", 0)
        )
    if usage.get("billing_outcome") == "infra_failure":
        return None
    return int(usage.get("total_agentic_steps", 0)), int(usage.get("total_cached_steps", 0))


def llm_cost_rows(run: Run) -> list[dict[str, Any]]:
    """One row for the main agent model, sized by the run's agentic steps."""
    agentic, _ = count_steps(run)
    if agentic == 0:
        return []
    uncached = (INPUT_TOKENS_PER_STEP - CACHE_READ_TOKENS_PER_STEP) * agentic
    cache_read = CACHE_READ_TOKENS_PER_STEP * agentic
    output = OUTPUT_TOKENS_PER_STEP * agentic
    cost = (uncached * PRICE_INPUT + cache_read * PRICE_CACHE_READ + output * PRICE_OUTPUT) / 1e6
    return [
        {
            "role": "main_agent",
            "billing_platform": "anthropic",
            "model": MAIN_MODEL,
            "endpoint_type": "messages",
            "call_count": agentic,
            "input_tokens": uncached + cache_read,
            "uncached_input_tokens": uncached,
            "cache_read_tokens": cache_read,
            "cache_write_5m_tokens": 0,
            "cache_write_1h_tokens": 0,
            "output_tokens": output,
            "reasoning_tokens": 0,
            "source": "emulator",
            "cost_usd": round(cost, 6),
        }
    ]
