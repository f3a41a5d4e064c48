"""Child processes of the demo, each in its own process group, so that nothing outlives the demo.

Every child starts in a new session (its own process group) and asks the kernel to send it SIGTERM
if the driver dies first. Stopping a child signals its whole group (the runners' own children,
such as ``airflow db migrate`` or Prefect's temporary API server, belong to it): SIGTERM, a short
grace period, then SIGKILL. Group ids are also written to a file that ``scripts/demo.sh`` reads in
its EXIT trap, as a last resort if the driver itself is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: receive SIGTERM when the driver exits (Linux only)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def group_alive(pgid: int) -> bool:
    """True while any process of group ``pgid`` exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Supervisor:
    """Starts children in their own process groups and stops every one of them."""

    def __init__(self, pgid_file: Path | None = None) -> None:
        self.pgid_file = pgid_file
        self._children: list[tuple[str, subprocess.Popen[bytes], IO[bytes] | None]] = []

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in a new process group, output to ``log_path`` (or discarded)."""
        log = log_path.open("ab") if log_path is not None else None
        proc = subprocess.Popen(  # noqa: S603 - argv is built by the driver, never from input
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log if log is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._children.append((name, proc, log))
        if self.pgid_file is not None:
            with self.pgid_file.open("a", encoding="utf-8") as handle:
                handle.write(f"{proc.pid}\n")
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        """SIGTERM the child's group, wait up to ``grace`` seconds, then SIGKILL what is left."""
        self._stop_groups([proc], grace)

    def stop_all(self, grace: float = 5.0) -> None:
        """Stop every child at once (one shared grace period); safe to call more than once."""
        children, self._children = self._children, []
        self._stop_groups([proc for _name, proc, _log in children], grace)
        for _name, _proc, log in children:
            if log is not None:
                log.close()

    @staticmethod
    def _stop_groups(procs: list[subprocess.Popen[bytes]], grace: float) -> None:
        for proc in procs:
            if group_alive(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            for proc in procs:
                proc.poll()  # reap exited group leaders so they stop counting as alive
            if not any(group_alive(proc.pid) for proc in procs):
                break
            time.sleep(0.1)
        for proc in procs:
            if group_alive(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
