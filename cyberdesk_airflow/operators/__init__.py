"""Cyberdesk operators.

Each operator's module is imported when the operator is first used, so importing this package
(as every DAG file parse does) costs next to nothing beyond Airflow itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cyberdesk_core._lazy import LazyExports

# What type checkers see (``X as X`` re-exports it); a test checks it matches _LAZY.
if TYPE_CHECKING:
    from cyberdesk_airflow.operators.attachment_urls import (
        CyberdeskAttachmentUrlOperator as CyberdeskAttachmentUrlOperator,
    )
    from cyberdesk_airflow.operators.attachments import (
        CyberdeskDownloadAttachmentsOperator as CyberdeskDownloadAttachmentsOperator,
    )
    from cyberdesk_airflow.operators.bulk import (
        CyberdeskBulkRunOperator as CyberdeskBulkRunOperator,
    )
    from cyberdesk_airflow.operators.chain import CyberdeskChainOperator as CyberdeskChainOperator
    from cyberdesk_airflow.operators.run import CyberdeskRunOperator as CyberdeskRunOperator

_LAZY: dict[str, str] = {
    "CyberdeskAttachmentUrlOperator": ".attachment_urls",
    "CyberdeskBulkRunOperator": ".bulk",
    "CyberdeskChainOperator": ".chain",
    "CyberdeskDownloadAttachmentsOperator": ".attachments",
    "CyberdeskRunOperator": ".run",
}

_EXPORTS = LazyExports(__name__, _LAZY)
__all__ = _EXPORTS.names
__getattr__ = _EXPORTS.load
__dir__ = _EXPORTS.listing
