"""Child processes Vigil starts (test servers, brokers, benchmark workers)."""

from __future__ import annotations

import subprocess


def stop_process(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 5.0
) -> None:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL: a stuck child never hangs us."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
