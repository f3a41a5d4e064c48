"""The emulator's shared runtime: settings, store, files, scheduler, counters, faults, webhooks."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .blobs import BlobStore
from .faults import FaultInjector
from .idempotency import IdempotencyStore
from .limits import DEFAULT_MAX_BODY_BYTES
from .scheduler import Scheduler
from .signing import UrlSigner
from .state import Store
from .stats import Stats
from .webhooks import WebhookDispatcher

DEFAULT_API_KEY = "cd_emulator_key"
DEFAULT_ADMIN_TOKEN = "emulator-admin"  # noqa: S105 - documented local default
DEFAULT_ORG_ID = "org_emulator"


@dataclass
class Settings:
    """Start-up options of one emulator instance."""

    api_key: str = DEFAULT_API_KEY
    admin_token: str = DEFAULT_ADMIN_TOKEN
    time_scale: float = 1.0
    rng_seed: int = 0
    max_finished_runs: int | None = None
    #: Largest request body accepted (413 above it); the admin upload route is exempt.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __repr__(self) -> str:
        return (
            f"Settings(time_scale={self.time_scale}, rng_seed={self.rng_seed}, "
            f"max_finished_runs={self.max_finished_runs}, max_body_bytes={self.max_body_bytes})"
        )


class Emulator:
    """Everything one server instance owns (attached to ``app.state.emulator``)."""

    def __init__(self, settings: Settings) -> None:
        if settings.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        if settings.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be >= 1")
        self.settings = settings
        self.blobs = BlobStore()
        self.store = Store(self.blobs)
        self.rng = random.Random(settings.rng_seed)
        self.stats = Stats()
        self.faults = FaultInjector()
        self.idempotency = IdempotencyStore()
        self.webhooks = WebhookDispatcher()
        self.signer = UrlSigner()
        self.scheduler = Scheduler(self)
        self.store.add_org(DEFAULT_ORG_ID, "Emulator organization", [settings.api_key])

    def reset(self) -> None:
        """Drop every object except organizations (keys and webhooks stay)."""
        self.scheduler.stop_all()
        orgs = self.store.orgs
        keys = self.store.keys
        self.blobs.close()
        self.store = Store(self.blobs)
        self.store.orgs = orgs
        self.store.keys = keys
        self.idempotency.clear()
        self.stats.reset()

    def close(self) -> None:
        """Delete the attachment files and their temporary directory (call once serving ends)."""
        self.blobs.close()
