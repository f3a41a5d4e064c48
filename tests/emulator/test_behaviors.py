"""Behaviour model and template language (pure functions; no server needed)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cyberdesk_emulator.behaviors import (
    MASK,
    Behavior,
    behavior_from_prompt,
    render,
    template_context,
)

FILTERS = ["upper", "lower", "json", "length", "sha256", "mask", "present"]


def _ctx(inputs: dict[str, object], secrets: dict[str, object]) -> dict[str, object]:
    return template_context(inputs, secrets, {"id": "run-1"}, {"name": "win"}, {"name": "wf"})


def test_render_keeps_types_and_substitutes_text() -> None:
    ctx = _ctx({"n": 3, "rows": [{"id": "a"}], "month": "oct"}, {})
    assert render("{{ inputs.n }}", ctx) == 3
    assert render("{{ inputs.rows.0.id }}", ctx) == "a"
    assert render("n={{ inputs.n }}, m={{inputs.month|upper}}", ctx) == "n=3, m=OCT"
    assert render({"k": ["{{ run.id }}", "{{ machine.name }}"]}, ctx) == {"k": ["run-1", "win"]}
    assert render("{{ inputs.missing }}", ctx) is None
    with pytest.raises(ValueError, match="unknown template filter"):
        render("{{ inputs.n | explode }}", ctx)
    with pytest.raises(ValueError, match="invalid template expression"):
        render("{{ inputs.n + 1 }}", ctx)


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(min_size=8, max_size=40).filter(
        lambda s: s.strip() == s and "*" not in s and ":" not in s
    ),
    filters=st.lists(st.sampled_from(FILTERS), max_size=3),
)
def test_secrets_never_render_in_plaintext(secret: str, filters: list[str]) -> None:
    expression = " | ".join(["secrets.pw", *filters])
    ctx = _ctx({"visible": "x"}, {"pw": secret, "nested": {"inner": secret}})
    for template in (
        "{{ " + expression + " }}",
        "login: {{ " + expression + " }}",
        "{{ secrets }}",
        "{{ secrets.nested }}",
        "{{ secrets.nested.inner }}",
        "{{ secrets | json }}",
    ):
        rendered = render(template, ctx)
        assert secret not in str(rendered)


def test_secret_filters_give_derived_facts_only() -> None:
    ctx = _ctx({}, {"pw": "hunter22"})
    assert render("{{ secrets.pw }}", ctx) == MASK
    assert render("{{ secrets.pw | length }}", ctx) == 8
    assert render("{{ secrets.pw | present }}", ctx) is True
    assert render("{{ secrets.other | present }}", ctx) is False
    assert len(render("{{ secrets.pw | sha256 }}", ctx)) == 64


def test_behavior_validation_and_draws() -> None:
    with pytest.raises(ValidationError):
        Behavior.model_validate({"duration": [3, 1]})
    with pytest.raises(ValidationError):
        Behavior.model_validate({"outcome": {"success": 0, "error": 0}})
    with pytest.raises(ValidationError):
        Behavior.model_validate({"outcome": "exploded"})
    with pytest.raises(ValidationError):
        Behavior.model_validate({"unknown_key": 1})
    behavior = Behavior.model_validate({"duration": [1, 2], "outcome": {"success": 1, "error": 3}})
    first = [behavior.pick_outcome(random.Random(5)) for _ in range(3)]
    second = [behavior.pick_outcome(random.Random(5)) for _ in range(3)]
    assert first == second
    assert 1 <= behavior.pick_duration(random.Random(1)) <= 2


def test_behavior_block_in_prompt() -> None:
    prompt = 'Do X\n```emulator-behavior\n{"duration": 1, "outcome": "error"}\n```\nthen Y'
    parsed = behavior_from_prompt(prompt)
    assert parsed is not None
    assert parsed.outcome == "error"
    assert behavior_from_prompt("no block here") is None
    with pytest.raises(ValueError, match="not valid JSON"):
        behavior_from_prompt("```emulator-behavior\n{oops}\n```")
