"""``scripts/demo.sh`` leaves nothing running when interrupted with Ctrl-C (SIGINT to its group)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[3]
MARKER = "CYBERDESK_DEMO_TEST_MARKER"
#: The demo's line when Airflow starts running the DAG.
RUNNING = b"running the DAG with dag.test()"


def marked_processes(token: str) -> list[psutil.Process]:
    """Processes whose environment carries the marker (every descendant of the demo inherits it)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARKER) == token:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.skipif(
    not (ROOT / ".venvs" / "prefect" / "bin" / "python").exists(), reason="needs both venvs"
)
def test_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CYBERDESK_"))}
    env.update({MARKER: token, "CYBERDESK_DEMO_WORKDIR": str(tmp_path / "demo")})
    demo = subprocess.Popen(
        [str(ROOT / "scripts" / "demo.sh")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # A user's Ctrl-C reaches a demo whose SIGINT is not ignored. A test runner started in
        # the background (`make test &`, CI) hands its children SIGINT ignored, which a shell
        # cannot trap and Python keeps: give the demo the disposition a terminal gives it.
        preexec_fn=_default_sigint,
    )
    lines: list[bytes] = []
    stdout = demo.stdout
    assert stdout is not None

    def read() -> None:
        for line in iter(stdout.readline, b""):
            lines.append(line)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        # Interrupt mid-pipeline: once Airflow runs the DAG (its runner, the emulator and the
        # Prefect runner with its server are up by then), not at a moment that depends on how
        # fast a loaded machine starts them.
        started = wait_for(lambda: any(RUNNING in line for line in list(lines)), timeout=180)
        before = len(marked_processes(token))
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(timeout=120)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        reader.join(timeout=10)
    output = b"".join(lines)
    assert started, output.decode(errors="replace")
    assert before >= 5
    assert demo.returncode == 130, output.decode(errors="replace")
    assert b"interrupted" in output
    assert wait_for(lambda: not marked_processes(token), timeout=10), [
        p.cmdline() for p in marked_processes(token)
    ]
