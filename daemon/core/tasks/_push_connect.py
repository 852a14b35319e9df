"""The HTTP client of push delivery: the address checked is the address connected to.

:class:`GuardedResolver` is the aiohttp resolver of the delivery session. It resolves a
webhook's name with the delivery's own lookup, drops every address :func:`refusal`
refuses (unless an allow pattern names the host literally) and raises
:class:`PushRefused` when none is left; aiohttp then connects to what it returned, with
the name kept for the Host header and TLS SNI. A DNS server that answers the URL check
with a public address and the connection with 127.0.0.1 gets no connection. The DNS
cache is off: each new connection is checked against the lookup and allow-list of the
moment. (An IP literal in a URL never reaches a resolver; :meth:`check_url` judged it
before the delivery and it cannot change.)
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from ._push_policy import Resolve, refusal

__all__ = ["GuardedResolver", "PushRefused", "open_session"]

class PushRefused(OSError):
    """A webhook's name resolved only to addresses push delivery may not connect to.
    An OSError so aiohttp reports it as the connection's DNS error (its ``os_error``)."""


class GuardedResolver(AbstractResolver):
    """Resolves with ``resolve``; keeps only addresses :func:`refusal` allows, unless
    ``literal(host)`` (an allow pattern names the host)."""

    def __init__(self, resolve: Callable[[], Resolve], literal: Callable[[str], bool]) -> None:
        self._resolve = resolve
        self._literal = literal

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        addresses = await self._resolve()(host, port)
        keep = addresses if self._literal(host) else [a for a in addresses if refusal(a) is None]
        results: list[ResolveResult] = []
        for address in keep:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            af = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            if family in (socket.AF_UNSPEC, af):
                results.append(ResolveResult(hostname=host, host=str(ip), port=port, family=af,
                                             proto=0, flags=socket.AI_NUMERICHOST))
        if not results:
            why = "; ".join(refusal(a) or f"{a} is not of the connection's family" for a in addresses)
            raise PushRefused(f"{host!r} resolved at connect time only to refused addresses "
                              f"({why or 'none'})")
        return results

    async def close(self) -> None:
        """Nothing to release: the lookup belongs to the delivery."""


def open_session(resolve: Callable[[], Resolve], literal: Callable[[str], bool],
                 timeout: float) -> aiohttp.ClientSession:
    """The delivery's HTTP client: guarded resolution, no DNS cache, no proxy from the
    environment (a proxy would resolve the name itself), ``timeout`` per request."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(resolve, literal), use_dns_cache=False,
                                     family=socket.AF_UNSPEC)
    return aiohttp.ClientSession(connector=connector, trust_env=False,
                                 timeout=aiohttp.ClientTimeout(total=timeout))
