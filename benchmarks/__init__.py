"""Measured comparisons for cyberdesk-orchestration (`make bench`; never collected by pytest)."""
