"""Ports for the servers tests start (NATS, RTSP, web): below the kernel's ephemeral range.

A port found by binding to 0 comes from the ephemeral range, and once released an outgoing
connection may take it as its local port before the server binds it: the server then exits
with "address already in use" (seen in CI with a NATS leaf port). Outgoing connections never
get a port below that range, so one picked there stays free unless another test takes it.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20000


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback TCP port nothing listens on or holds now, outside the ephemeral range."""
    top = _ephemeral_start() - 1
    for _ in range(200):
        port = random.randint(LOWEST, top) if top > LOWEST else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port found below the ephemeral range")
