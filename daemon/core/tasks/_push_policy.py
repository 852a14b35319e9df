"""Where a push may go and what it may carry: the one address rule (:func:`refusal`),
the host an allow pattern names literally, the headers a config makes, and the form of
a webhook URL that may be written to logs and the audit trail.

The address rule is used twice: by :meth:`PushDelivery.check_url` on the addresses a
name resolves to when it is checked, and by the delivery client's resolver on the
addresses it connects to (:mod:`._push_connect`), so a name that resolves elsewhere
between the two (DNS rebinding) still cannot reach a refused address.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ...errors import InvalidParams

__all__ = ["Resolve", "allows", "config_headers", "names_host", "refusal", "shown"]

Resolve = Callable[[str, int], Awaitable[list[str]]]
"""A name lookup: ``(host, port)`` to its IP addresses (strings), in preference order."""

# NAT64's well-known prefix (RFC 6052): 64:ff9b::a.b.c.d reaches IPv4 a.b.c.d through
# the network's translator, so the IPv4 address inside is the one that counts.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Forms whose low 32 bits are an IPv4 address a host or translator may use: IPv4-compatible
# (::a.b.c.d, deprecated, RFC 4291) and IPv4-translated (::ffff:0:a.b.c.d, RFC 2765).
# Python's is_global calls both public.
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
# A local-use NAT64 prefix (RFC 8215): the network's own translator, to its own IPv4
# addresses, which RFC 6052's rule for the well-known prefix does not keep public.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
# An RFC 7230 token (an auth scheme), and a header value: visible ASCII, space and tab
# only, so nothing a config carries can end a header line or start another one.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"[\x20-\x7e\t]*")


def refusal(address: str) -> str | None:
    """Why a push may not connect to ``address`` (an IP, maybe with a ``%scope``), or
    None for a public unicast address. An IPv6 address that carries an IPv4 one
    (mapped, compatible, translated, 6to4, Teredo, NAT64) is judged by the IPv4 address
    inside; a local-use NAT64 or site-local address is refused outright."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return f"{ip} is local-use NAT64 (it reaches the network's own IPv4 addresses)"
        if ip.is_site_local:
            return f"{ip} is site-local"
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and (ip in _NAT64 or ip in _IPV4_TRANSLATED
                              or (ip in _IPV4_COMPATIBLE and int(ip) > 1)):  # not :: or ::1
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            why = refusal(str(inner))
            return f"{ip} carries {why}" if why else None
    if ip.is_multicast:
        return f"{ip} is multicast"
    if not ip.is_global:
        kind = ("loopback" if ip.is_loopback else "link-local" if ip.is_link_local
                else "private" if ip.is_private else "non-public")
        return f"{ip} is {kind}"
    return None


def allows(pattern: str, url: str) -> bool:
    """Whether the ``[a2a] push_allow`` pattern (fnmatch) admits ``url``. A pattern with
    ``://`` is matched part by part: scheme, authority (``host[:port]``) and the rest, so
    a wildcard in its host stays in the host (on the whole URL, ``https://*.example.com/*``
    admitted ``https://evil.test/a.example.com/``); a pattern without a path admits any
    path there. A pattern without ``://`` (``*``) is matched against the whole URL."""
    p_scheme, sep, p_rest = pattern.partition("://")
    if not sep:
        return fnmatch.fnmatchcase(url, pattern)
    u_scheme, sep, u_rest = url.partition("://")
    if not sep:
        return False
    # The pattern's authority ends at its first "/" ("?" is a wildcard there); the URL's at
    # its first "/", "?" or "#", where the client's parser ends it.
    p_authority, slash, p_tail = p_rest.partition("/")
    end = min((i for i in map(u_rest.find, "/?#") if i >= 0), default=len(u_rest))
    u_authority, u_tail = u_rest[:end], u_rest[end:]
    return (fnmatch.fnmatchcase(u_scheme, p_scheme) and fnmatch.fnmatchcase(u_authority, p_authority)
            and (not slash or fnmatch.fnmatchcase(u_tail, "/" + p_tail)))


def names_host(pattern: str, host: str) -> bool:
    """Whether ``pattern`` names ``host`` literally (no wildcard in its host part)."""
    rest = pattern.split("://", 1)[-1]
    authority = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if authority.startswith("["):
        pattern_host = authority[1:].split("]", 1)[0]
    else:
        pattern_host = authority.split(":", 1)[0]
    return not any(c in pattern_host for c in "*?[") and pattern_host.lower() == host.lower()


def config_headers(token: str, authentication: Mapping[str, Any] | None) -> dict[str, str]:
    """The headers a push config sends: ``X-A2A-Notification-Token`` and ``Authorization``
    (the config's scheme and credentials, else ``Bearer <token>``). :class:`InvalidParams`
    when a value could not be sent as one header line (a CR or LF would let a config
    add headers of its own, or a second request, to every push)."""
    headers = {"Content-Type": "application/json"}
    if not isinstance(token, str) or not _VALUE.fullmatch(token):
        raise InvalidParams("push notification token: printable ASCII only", data={"field": "token"})
    if token:
        headers["X-A2A-Notification-Token"] = token
    scheme = authentication.get("scheme") if authentication else None
    if scheme:
        credentials = authentication.get("credentials", "") if authentication else ""
        if not isinstance(scheme, str) or not _TOKEN.fullmatch(scheme):
            raise InvalidParams("push notification authentication.scheme: an HTTP auth scheme name",
                                data={"field": "authentication.scheme"})
        if not isinstance(credentials, str) or not _VALUE.fullmatch(credentials):
            raise InvalidParams("push notification authentication.credentials: printable ASCII only",
                                data={"field": "authentication.credentials"})
        headers["Authorization"] = f"{scheme} {credentials}".strip()
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def shown(url: str) -> str:
    """``url`` as logs and the audit trail show it: no user info, query or fragment,
    where webhooks commonly carry their secret."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.split("?", 1)[0].split("#", 1)[0]
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    return f"{scheme}://{authority.rsplit('@', 1)[-1]}{tail.split('?', 1)[0].split('#', 1)[0]}"
