"""Typed views of a run's message history, its screenshots and its trajectory.

`run_message_history` is large and free-form (cyberdesk-api.md 3.2): items and blocks keep every
unknown field, a block of an unknown `type` is kept as is, and an item that is not an object is
skipped by `parse_history` instead of failing the whole run. Both the SDK's block keys
(`tool_name`, `tool_input`, `image_url`) and the model provider's (`name`, `input`, `source`)
are read, so a history written either way renders the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

__all__ = [
    "HistoryBlock",
    "HistoryItem",
    "ImageSignedUrl",
    "Trajectory",
    "parse_history",
]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class HistoryBlock(_Loose):
    """One content block: `text`, `image`, `tool_use`, `tool_result` or a type not known yet."""

    type: str = "unknown"
    text: str | None = None
    image_url: str | None = None
    tool_use_id: str | None = None
    tool_name: str | None = None
    tool_input: dict[str, Any] | None = None
    tool_result: Any = None
    error: Any = None

    @property
    def tool(self) -> str | None:
        """The tool's name (`tool_name`, or the provider's `name`)."""
        name = self.tool_name or (self.model_extra or {}).get("name")
        return str(name) if name else None

    @property
    def arguments(self) -> dict[str, Any]:
        """The tool's input (`tool_input`, or the provider's `input`); {} when absent."""
        if self.tool_input is not None:
            return self.tool_input
        given = (self.model_extra or {}).get("input")
        return given if isinstance(given, dict) else {}

    @property
    def image(self) -> str | None:
        """The screenshot reference (`image_url`, or `source.url` of a provider image block)."""
        if self.image_url:
            return self.image_url
        source = (self.model_extra or {}).get("source")
        url = source.get("url") if isinstance(source, dict) else None
        return str(url) if url else None


class HistoryItem(_Loose):
    """One message of the history: who spoke, its blocks and when."""

    role: str = "unknown"
    content: list[HistoryBlock] = Field(default_factory=list)
    timestamp: datetime | None = None
    loop_uuid: str | None = None
    iteration_index: int | None = None
    event_type: str | None = None


def _blocks(content: Any) -> list[HistoryBlock]:
    if isinstance(content, str):
        return [HistoryBlock(type="text", text=content)]
    if not isinstance(content, list):
        return []
    blocks = []
    for raw in content:
        if isinstance(raw, str):
            blocks.append(HistoryBlock(type="text", text=raw))
        elif isinstance(raw, dict):
            try:
                blocks.append(HistoryBlock.model_validate(raw))
            except PydanticValidationError:
                # A block whose known keys have unexpected types: keep its kind only.
                blocks.append(HistoryBlock(type=str(raw.get("type", "unknown"))))
    return blocks


def parse_history(items: Iterable[Any] | None) -> list[HistoryItem]:
    """The history as `HistoryItem`s; never raises on odd items (they are skipped or reduced)."""
    parsed: list[HistoryItem] = []
    for raw in items or ():
        if not isinstance(raw, dict):
            continue
        fields = {k: v for k, v in raw.items() if k != "content"}
        try:
            item = HistoryItem.model_validate(fields)
        except PydanticValidationError:
            item = HistoryItem(role=str(raw.get("role", "unknown")))
        item.content = _blocks(raw.get("content"))
        parsed.append(item)
    return parsed


class ImageSignedUrl(_Loose):
    """Answer of `runs.get_image_signed_url`: a time-limited HTTPS URL for a screenshot."""

    supabase_url: str
    signed_url: str = Field(repr=False)
    expires_in: int


class Trajectory(_Loose):
    """Answer of `runs.trajectory`: the latest trajectory recorded from the run."""

    id: str
    workflow_id: str | None = None
    trajectory_data: list[dict[str, Any]] = Field(default_factory=list)
    dimensions: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None
    run_id: str | None = None
    is_approved: bool = False
    is_generated: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
