"""Ports for the servers tests and benches start."""

from __future__ import annotations

from vigil.process import _ephemeral_start, free_port


def test_free_ports_are_below_the_ephemeral_range_and_never_handed_out_twice() -> None:
    # 500 random picks among ~12,700 ports would repeat one about ten times over
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)
    assert all(p < _ephemeral_start() for p in ports)
