"""Cyberdesk operators."""

from cyberdesk_airflow.operators.attachments import CyberdeskDownloadAttachmentsOperator
from cyberdesk_airflow.operators.bulk import CyberdeskBulkRunOperator
from cyberdesk_airflow.operators.chain import CyberdeskChainOperator
from cyberdesk_airflow.operators.run import CyberdeskRunOperator

__all__ = [
    "CyberdeskBulkRunOperator",
    "CyberdeskChainOperator",
    "CyberdeskDownloadAttachmentsOperator",
    "CyberdeskRunOperator",
]
