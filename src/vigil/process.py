"""Child processes Vigil starts (test servers, brokers, benchmark workers)."""

from __future__ import annotations

import random
import socket
import subprocess
import threading
from pathlib import Path

LOWEST_PORT = 20000


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


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback TCP port for a child server to listen on, below the ephemeral range.

    A port found by binding to 0 comes from the ephemeral range, and once released an outgoing
    connection may take it as its local port before the server binds it: the server then exits
    with "address already in use" (seen in CI with a NATS leaf port). Outgoing connections never
    get a port below that range, so one picked there stays free unless another server takes it.
    """
    top = _ephemeral_start() - 1
    for _ in range(200):
        port = random.randint(LOWEST_PORT, top) if top > LOWEST_PORT else 0
        with _handed_lock:
            if port in _handed:  # free now, but already promised to another server
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                port = int(s.getsockname()[1])
            _handed.add(port)
            return port
    raise RuntimeError("no free port found below the ephemeral range")


# Ports this process has handed out: several picked before any server binds them (a config
# with four ports) could otherwise be the same one (seen in a test run: port == http_port).
_handed: set[int] = set()
_handed_lock = threading.Lock()
