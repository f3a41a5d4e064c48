"""``EmulatorServer``: uvicorn in a background thread on a real loopback socket."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from .admin_client import EmulatorAdmin
from .app import configure_logging, create_app
from .limits import DEFAULT_MAX_BODY_BYTES, parse_size
from .runtime import DEFAULT_ADMIN_TOKEN, DEFAULT_API_KEY, Emulator, Settings
from .seed import load_seed_file, seed_settings

STARTUP_TIMEOUT = 15.0


class EmulatorServer:
    """A running emulator; use as a context manager or call ``start()`` / ``stop()``.

    Attributes after ``start()``: ``url``, ``api_key``, ``admin`` (:class:`EmulatorAdmin`),
    ``emulator`` (the in-process runtime, for white-box inspection). ``max_body_bytes`` (bytes
    or ``"16MiB"``) caps request bodies (413 above it; default 64 MiB or the seed's setting).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: str | Path | dict[str, Any] | None = None,
        api_key: str = DEFAULT_API_KEY,
        admin_token: str = DEFAULT_ADMIN_TOKEN,
        time_scale: float | None = None,
        log_path: str | Path | None = None,
        rng_seed: int | None = None,
        max_finished_runs: int | None = None,
        faults: dict[str, Any] | None = None,
        max_body_bytes: int | str | None = None,
    ) -> None:
        data = load_seed_file(seed) if isinstance(seed, (str, Path)) else dict(seed or {})
        if faults is not None:
            data["faults"] = faults
        from_seed = seed_settings(data)
        self.host = host
        self.port = port
        self.api_key = api_key
        self.admin_token = admin_token
        self.log_path = log_path
        settings = Settings(
            api_key=api_key,
            admin_token=admin_token,
            time_scale=time_scale if time_scale is not None else (from_seed.time_scale or 1.0),
            rng_seed=rng_seed if rng_seed is not None else (from_seed.rng_seed or 0),
            max_finished_runs=max_finished_runs
            if max_finished_runs is not None
            else from_seed.max_finished_runs,
            max_body_bytes=parse_size(max_body_bytes)
            if max_body_bytes is not None
            else from_seed.max_body_bytes or DEFAULT_MAX_BODY_BYTES,
        )
        self.emulator = Emulator(settings)
        self._seed = data
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._admin: EmulatorAdmin | None = None
        self.url = ""

    def __repr__(self) -> str:
        return f"EmulatorServer(url={self.url!r})"

    @property
    def admin(self) -> EmulatorAdmin:
        """Admin client (available once started)."""
        if self._admin is None:
            raise RuntimeError("EmulatorServer is not running; call start() first")
        return self._admin

    def start(self) -> EmulatorServer:
        """Bind the socket, start uvicorn in a daemon thread and wait until it serves."""
        if self._thread is not None:
            return self
        configure_logging(self.log_path)
        app = create_app(self.emulator, seed=self._seed)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=5,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="cyberdesk-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("cyberdesk emulator failed to start")
            time.sleep(0.01)
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        self.url = f"http://{shown}:{self.port}"
        self._admin = EmulatorAdmin(self.url, self.admin_token)
        return self

    def stop(self) -> None:
        """Shut uvicorn down, join its thread and delete the attachment files."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STARTUP_TIMEOUT)
        self._server = None
        self._thread = None
        self.emulator.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
