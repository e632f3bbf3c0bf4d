"""Which address a request comes from, and the uvicorn settings that keep it ours to decide.

uvicorn by default believes X-Forwarded-For from 127.0.0.1 (`proxy_headers`,
`forwarded_allow_ips`), so anything on the box, or anything a local proxy passes along
unchanged, could name any client address in the audit log and dodge the per-address login
limit. Vigil's servers run with uvicorn's proxy handling off (`uvicorn_config`), and
`client_from` (through `vigil.api.deps.client_address`) alone decides the client: the
connecting address, unless that is one of `api.trusted_proxies`; then X-Forwarded-For is read
from the right, skipping trusted proxies, and the first other address is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

UNKNOWN = "unknown"


@lru_cache(maxsize=16)
def _networks(items: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(x, strict=False) for x in items)


def _ip(text: str) -> IpAddress | None:
    """An address from a forwarding header's item: `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:80`."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: IpAddress, nets: tuple[Network, ...]) -> bool:
    return any(ip.version == n.version and ip in n for n in nets)


def client_from(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[str]) -> str:
    """The client's address. `peer`: the connecting address; `forwarded_for`: the values of
    every X-Forwarded-For header, in order; `trusted`: `api.trusted_proxies`.

    The header counts only when `peer` is a trusted proxy. Its addresses are read from the
    right (the one the nearest proxy added) past further trusted proxies; the first other one
    is the client. An item that is not an address ends the walk at the last trusted hop, so a
    forged or garbled header never yields an address a trusted proxy did not vouch for.
    """
    if not peer:
        return UNKNOWN
    nets = _networks(tuple(trusted))
    here = _ip(peer)
    if here is None or not nets or not _trusted(here, nets):
        return peer
    hops = [h for value in forwarded_for for h in value.split(",") if h.strip()]
    for item in reversed(hops):
        ip = _ip(item)
        if ip is None:
            break
        here = ip
        if not _trusted(ip, nets):
            break
    return str(here)


def uvicorn_config(app: Any, host: str, port: int, **kw: Any):
    """A `uvicorn.Config` for a Vigil app: uvicorn's own X-Forwarded-* handling off (the app
    decides the client with `client_from`), warnings only, a short graceful shutdown."""
    import uvicorn

    kw.setdefault("log_level", "warning")
    kw.setdefault("timeout_graceful_shutdown", 3)
    return uvicorn.Config(app, host=host, port=port, proxy_headers=False, **kw)
