"""``EmulatorAdmin``: a small synchronous client of the ``/_emulator/`` admin API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from .faults import FaultConfig

ADMIN_HEADER = "X-Emulator-Admin-Token"


class EmulatorAdmin:
    """Wraps the admin API of one emulator (``url`` is the server's base URL)."""

    def __init__(self, url: str, token: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=f"{self.url}/_emulator", headers={ADMIN_HEADER: token}, timeout=timeout
        )

    def __repr__(self) -> str:
        return f"EmulatorAdmin(url={self.url!r})"

    def __enter__(self) -> EmulatorAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        response = self._client.request(method, path, json=json)
        response.raise_for_status()
        return response.json() if response.content else None

    def stats(self) -> dict[str, Any]:
        """Counters: ``requests_by_route``, ``creates_by_idempotency_key``, ``runs_created``, ..."""
        result: dict[str, Any] = self._call("GET", "/stats")
        return result

    def reset_stats(self) -> None:
        """Zero the counters."""
        self._call("POST", "/stats/reset")

    def get_faults(self) -> dict[str, Any]:
        """Active fault configuration."""
        result: dict[str, Any] = self._call("GET", "/faults")
        return result

    def set_faults(self, config: FaultConfig | dict[str, Any]) -> dict[str, Any]:
        """Replace the fault rules (see :mod:`cyberdesk_emulator.faults`)."""
        body = config.model_dump() if isinstance(config, FaultConfig) else config
        result: dict[str, Any] = self._call("PUT", "/faults", body)
        return result

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._call("DELETE", "/faults")

    def set_workflow_behavior(self, workflow_id: str, behavior: dict[str, Any]) -> dict[str, Any]:
        """Replace a workflow's simulated behaviour."""
        result: dict[str, Any] = self._call("PUT", f"/workflows/{workflow_id}/behavior", behavior)
        return result

    def run_state(self, run_id: str) -> dict[str, Any]:
        """Internal state of a run (queue position, executing, secrets held, ...)."""
        result: dict[str, Any] = self._call("GET", f"/runs/{run_id}")
        return result

    def finish_run(self, run_id: str, outcome: str | None = None) -> None:
        """Skip the remaining simulated time of an executing run."""
        self._call("POST", f"/runs/{run_id}/finish", {"outcome": outcome})

    def add_attachment(
        self,
        run_id: str,
        content: bytes | str | os.PathLike[str] | BinaryIO,
        *,
        filename: str | None = None,
        content_type: str | None = None,
        attachment_type: str = "output",
        target_path: str | None = None,
    ) -> dict[str, Any]:
        """Attach content to a run; returns the ``RunAttachment``.

        ``content`` is the bytes themselves, a file path (``str`` or path-like) or a binary file
        object; paths and files are streamed, so any size costs little memory on either side.
        ``filename`` defaults to the file's name; ``content_type`` is guessed from it.
        """
        if isinstance(content, (str, os.PathLike)):
            path = Path(content)
            with open(path, "rb") as reader:
                return self.add_attachment(
                    run_id,
                    reader,
                    filename=filename or path.name,
                    content_type=content_type,
                    attachment_type=attachment_type,
                    target_path=target_path,
                )
        if filename is None:
            name = getattr(content, "name", None)
            if not isinstance(name, str):
                raise ValueError("filename is required when content is bytes or an unnamed file")
            filename = Path(name).name
        params = {"filename": filename, "attachment_type": attachment_type}
        if content_type is not None:
            params["content_type"] = content_type
        if target_path is not None:
            params["target_path"] = target_path
        response = self._client.post(
            f"/runs/{run_id}/attachments",
            params=params,
            content=content,
            headers={"Content-Type": "application/octet-stream"},
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def seed(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add organizations / workflows / machines / pools / webhooks; returns their ids."""
        result: dict[str, Any] = self._call("POST", "/seed", data)
        return result

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Recent webhook delivery attempts."""
        result: list[dict[str, Any]] = self._call("GET", "/webhooks/deliveries")
        return result

    def reset(self) -> None:
        """Drop every object except organizations and zero the counters."""
        self._call("POST", "/reset")
