"""Server-side request forgery guard for webhook targets.

A target URL must be ``http`` or ``https`` and every address its host resolves to must be
public, unless the configuration allows loopback (``allow_loopback``) or private networks
(``allow_private``). It is checked when an endpoint is registered and again before every
attempt (DNS may change in between), and each attempt connects to an address that check
returned (:func:`pinned`): the name is never resolved a second time, so a DNS answer that
changes between the check and the connection (DNS rebinding) cannot redirect a delivery.

>>> check_url("http://127.0.0.1:9/x", allow_loopback=True, allow_private=False)
['127.0.0.1']
>>> check_url("http://10.1.2.3/x", allow_loopback=True, allow_private=False)
Traceback (most recent call last):
...
cloud.alerting.core.errors.UnsafeTarget: http://10.1.2.3/x resolves to 10.1.2.3, a private address
>>> check_url("ftp://example.com/", allow_loopback=True, allow_private=True)
Traceback (most recent call last):
...
cloud.alerting.core.errors.UnsafeTarget: only http and https targets are allowed
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from cloud.alerting.core.errors import UnsafeTarget


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeTarget(f"cannot resolve {host}: {exc.strerror}") from None
    except UnicodeError:  # not a valid internationalised domain name
        raise UnsafeTarget(f"{host!r} is not a valid host name") from None
    return sorted({str(info[4][0]) for info in infos})


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries: IPv4-mapped (``::ffff:0:0/96``),
    IPv4-compatible (``::/96``), 6to4 (``2002::/16``), NAT64 (``64:ff9b::/96``) or Teredo
    (``2001::/32``, the client address); None for other addresses.

    >>> embedded_ipv4(ipaddress.IPv6Address("2002:7f00:1::1"))
    IPv4Address('127.0.0.1')
    >>> embedded_ipv4(ipaddress.IPv6Address("64:ff9b::a00:1"))
    IPv4Address('10.0.0.1')
    """
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify(address: str) -> str:
    """``"loopback"``, ``"private"`` (any non-public range) or ``"public"``.

    An IPv6 address that embeds an IPv4 address is judged by that address too: only an
    IPv4-mapped address counts as the IPv4 address itself (``loopback`` included); any other
    embedding of a non-public IPv4 address is ``private`` (6to4, NAT64 and Teredo relays, and
    IPv4-compatible addresses, reach it by other routes). The local-use NAT64 prefix
    ``64:ff9b:1::/48`` is private.

    >>> classify("2002:7f00:1::1"), classify("64:ff9b::7f00:1"), classify("::ffff:127.0.0.1")
    ('private', 'private', 'loopback')
    >>> classify("64:ff9b:1::5"), classify("::a00:1"), classify("64:ff9b::808:808")
    ('private', 'private', 'public')
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return "private"
        inner = embedded_ipv4(ip)
        if inner is not None:
            if ip.ipv4_mapped is not None:
                ip = inner
            elif _classify_ip(inner) != "public":
                return "private"
            elif ip in _NAT64 or ip.sixtofour is not None:
                return "public"  # a translation to a public IPv4 address
    return _classify_ip(ip)


def _classify_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.is_loopback:
        return "loopback"
    if (ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified or not ip.is_global):
        return "private"
    return "public"


def check_url(url: str, allow_loopback: bool, allow_private: bool) -> list[str]:
    """The addresses ``url``'s host resolves to, all allowed; :class:`UnsafeTarget` unless
    every one may be called. Connect to one of these (:func:`pinned`), never resolve again."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("only http and https targets are allowed")
    if not parts.hostname:
        raise UnsafeTarget("the target URL has no host")
    if parts.username or parts.password:
        raise UnsafeTarget("credentials in the target URL are not allowed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeTarget("the target URL has an invalid port") from None
    addresses = _resolve(parts.hostname, port)
    if not addresses:
        raise UnsafeTarget(f"{parts.hostname} resolves to no address")
    for address in addresses:
        kind = classify(address)
        if (kind == "loopback" and not allow_loopback) or (kind == "private" and not allow_private):
            raise UnsafeTarget(f"{url} resolves to {address}, a {kind} address")
    return addresses


@dataclass(frozen=True, slots=True)
class Pinned:
    """A request to ``url`` sent to a checked address: the URL naming the address, the
    ``Host`` header and the TLS server name of the original URL."""

    url: str
    host: str
    sni_hostname: str | None


def pinned(url: str, address: str) -> Pinned:
    """``url`` rewritten to connect to ``address`` (checked by :func:`check_url`), keeping
    the original host for the ``Host`` header and, for https, for SNI and certificate checks.

    >>> p = pinned("https://hooks.example.com:8443/a?b=1", "203.0.113.5")
    >>> p.url, p.host, p.sni_hostname
    ('https://203.0.113.5:8443/a?b=1', 'hooks.example.com:8443', 'hooks.example.com')
    >>> pinned("http://localhost/x", "::1").url
    'http://[::1]/x'
    """
    parts = urlsplit(url)
    ip = address.split("%", 1)[0]
    literal = f"[{ip}]" if ":" in ip else ip
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host = parts.netloc.rsplit("@", 1)[-1]
    sni = parts.hostname if parts.scheme == "https" else None
    return Pinned(urlunsplit(parts._replace(netloc=netloc)), host, sni)
