"""Server-side request forgery guard for webhook targets.

A target URL must be ``http`` or ``https`` and every address its host resolves to must be
public, unless the configuration allows loopback (``allow_loopback``) or private networks
(``allow_private``). It is checked when an endpoint is registered and again before every
attempt (DNS may change in between).

>>> check_url("http://127.0.0.1:9/x", allow_loopback=True, allow_private=False)
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
from urllib.parse import urlsplit

from cloud.alerting.core.errors import UnsafeTarget


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeTarget(f"cannot resolve {host}: {exc.strerror}") from None
    return sorted({str(info[4][0]) for info in infos})


def classify(address: str) -> str:
    """``"loopback"``, ``"private"`` (any non-public range) or ``"public"``."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if (ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified or not ip.is_global):
        return "private"
    return "public"


def check_url(url: str, allow_loopback: bool, allow_private: bool) -> None:
    """Raise :class:`UnsafeTarget` unless ``url`` may be called."""
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
    for address in _resolve(parts.hostname, port):
        kind = classify(address)
        if (kind == "loopback" and not allow_loopback) or (kind == "private" and not allow_private):
            raise UnsafeTarget(f"{url} resolves to {address}, a {kind} address")
