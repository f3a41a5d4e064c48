"""``cyberdesk-emulator serve``: run the emulator in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
import yaml

from .app import configure_logging, create_app
from .limits import DEFAULT_MAX_BODY_BYTES, parse_size
from .runtime import DEFAULT_ADMIN_TOKEN, DEFAULT_API_KEY, Emulator, Settings
from .seed import SeedSettings, load_seed_file, seed_settings


def _faults(value: str) -> dict[str, Any]:
    path = Path(value)
    if path.is_file():
        return load_seed_file(path)
    parsed = json.loads(value)
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError("--faults must be a JSON object or a YAML/JSON file")
    return parsed


def _size(value: str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (a host name is not trusted to be one)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, api_key: str, admin_token: str) -> str | None:
    """The warning to print when a non-loopback bind uses the documented default credentials."""
    defaults = [
        name
        for name, value, default in (
            ("API key (--api-key)", api_key, DEFAULT_API_KEY),
            ("admin token (--admin-token)", admin_token, DEFAULT_ADMIN_TOKEN),
        )
        if value == default
    ]
    if is_loopback(host) or not defaults:
        return None
    return (
        f"WARNING: --host {host} is not a loopback address and the default "
        f"{' and '.join(defaults)} is in use: anyone who can reach this port can use the API "
        "and the admin API (reset, seed, faults). Set your own values, or bind to 127.0.0.1."
    )


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _hang_up(signum: int, frame: FrameType | None) -> None:
    # Raising here could interrupt the event loop anywhere; the SIGTERM handler in force
    # (uvicorn's graceful shutdown while serving, else ``_exit_on_signal``) ends it cleanly.
    signal.raise_signal(signal.SIGTERM)


@contextlib.contextmanager
def _unwind_on_termination() -> Iterator[None]:
    """Make SIGTERM and SIGHUP end in ``SystemExit`` so ``finally`` blocks run (main thread only).

    uvicorn shuts down gracefully on SIGTERM, then re-raises it with the handler installed
    before it started (this one) instead of the default that kills the process on the spot.
    SIGHUP (terminal closed) is not uvicorn's: it is turned into a SIGTERM.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = {signal.SIGTERM: _exit_on_signal, getattr(signal, "SIGHUP", None): _hang_up}
    previous = {s: signal.signal(s, h) for s, h in wanted.items() if s is not None}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the ``cyberdesk-emulator`` command."""
    parser = argparse.ArgumentParser(
        prog="cyberdesk-emulator", description="Local, wire-compatible Cyberdesk API emulator."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the emulated API")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    serve.add_argument("--seed", type=Path, help="YAML/JSON seed file")
    serve.add_argument(
        "--api-key",
        default=DEFAULT_API_KEY,
        help=f"API key of the default organization (default {DEFAULT_API_KEY})",
    )
    serve.add_argument(
        "--admin-token",
        default=DEFAULT_ADMIN_TOKEN,
        help=f"X-Emulator-Admin-Token for /_emulator/ (default {DEFAULT_ADMIN_TOKEN})",
    )
    serve.add_argument(
        "--time-scale", type=float, help="divide simulated durations by this factor (default 1)"
    )
    serve.add_argument("--rng-seed", type=int, help="seed of the behaviour RNG (default 0)")
    serve.add_argument("--max-finished-runs", type=int, help="keep at most N finished runs")
    serve.add_argument("--faults", type=_faults, help="fault config: JSON object or file")
    serve.add_argument("--log-file", type=Path, help="append the request log to this file")
    serve.add_argument(
        "--max-body-bytes",
        type=_size,
        metavar="SIZE",
        help="largest request body, in bytes or with a unit (64MiB, 500kB); larger ones get "
        f"413 (default {DEFAULT_MAX_BODY_BYTES // (1024 * 1024)}MiB)",
    )
    return parser


def _settings(args: argparse.Namespace, from_seed: SeedSettings) -> Settings:
    time_scale = args.time_scale if args.time_scale is not None else from_seed.time_scale or 1.0
    return Settings(
        api_key=args.api_key,
        admin_token=args.admin_token,
        time_scale=time_scale,
        rng_seed=args.rng_seed if args.rng_seed is not None else from_seed.rng_seed or 0,
        max_finished_runs=args.max_finished_runs
        if args.max_finished_runs is not None
        else from_seed.max_finished_runs,
        max_body_bytes=args.max_body_bytes
        if args.max_body_bytes is not None
        else from_seed.max_body_bytes or DEFAULT_MAX_BODY_BYTES,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        data = load_seed_file(args.seed) if args.seed else {}
        if args.faults is not None:
            data["faults"] = args.faults
        # Validated in full before serving: a bad seed is one clear line, not a traceback.
        from_seed = seed_settings(data)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"cyberdesk-emulator: {exc}", file=sys.stderr)
        return 2
    settings = _settings(args, from_seed)
    time_scale = settings.time_scale
    if time_scale <= 0:
        print("--time-scale must be > 0", file=sys.stderr)
        return 2
    warning = exposure_warning(args.host, args.api_key, args.admin_token)
    if warning:
        print(warning, file=sys.stderr)
    configure_logging(args.log_file)
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logging.getLogger("cyberdesk_emulator").addHandler(console)
    emulator = Emulator(settings)
    try:
        with _unwind_on_termination():
            app = create_app(emulator, seed=data)
            print(
                f"Cyberdesk emulator on http://{args.host}:{args.port} "
                f"(time_scale={time_scale}; API key: see --api-key)",
                file=sys.stderr,
            )
            # Ctrl-C: uvicorn shuts down and returns (it swallows the re-raised interrupt).
            uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    finally:
        emulator.close()
    return 0
