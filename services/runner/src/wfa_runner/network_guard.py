"""The SSRF guard: an `http-request` action may reach only public addresses, unless settings allow otherwise.

The check sits in the network backend under httpx, at the moment a TCP connection is opened: the backend
resolves the host itself, refuses if any address it resolves to is forbidden, and connects to a vetted IP.
So a DNS name pointing inside, a redirect leading inside, and DNS rebinding (a name that resolves to a public
address when checked and a private one when connected) all meet the same check, on the address actually used.
TLS still verifies the hostname: httpcore wraps TLS on top of the stream with the origin's name as SNI.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints (AWS/GCP/Azure IMDS, AWS IMDS over IPv6, Alibaba, Azure's wire server, Oracle).
# Most already fall in a forbidden range; they are named so the refusal says what was being reached.
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16", "192.0.0.192")
)

# Explicit tables rather than ipaddress's is_private/is_global alone: those flags changed between Python
# versions (3.11 vs 3.13 disagree on several ranges and on IPv4-mapped addresses).
_RANGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("unspecified", ("0.0.0.0/32", "::/128")),
    ("loopback", ("127.0.0.0/8", "::1/128")),
    ("link-local", ("169.254.0.0/16", "fe80::/10")),
    ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("carrier-grade NAT", ("100.64.0.0/10",)),
    ("multicast", ("224.0.0.0/4", "ff00::/8")),
    ("reserved", ("0.0.0.0/8", "240.0.0.0/4", "::/8", "100::/64")),
)
_NETWORKS = tuple((category, tuple(ipaddress.ip_network(cidr) for cidr in cidrs)) for category, cidrs in _RANGES)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and leads to: IPv4-mapped, 6to4, or NAT64 well-known prefix."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why `address` may not be reached from an action (a category such as "loopback"), or None if it may."""
    inner = embedded_ipv4(address)
    if inner is not None:
        reason = forbidden_reason(inner)
        return f"{reason} (IPv4 {inner} inside IPv6)" if reason else None
    if address in _METADATA:
        return "cloud metadata"
    for category, networks in _NETWORKS:
        if any(address.version == network.version and address in network for network in networks):
            return category
    if not address.is_global:
        return "not globally routable"
    return None


class ForbiddenAddress(Exception):
    """A connection was refused by the guard. Not an httpcore error, so httpx lets it through unchanged."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        target = host if host == address else f"{host} ({address})"
        super().__init__(f"{target} is a {reason} address; http-request actions may only reach public addresses")
        self.host = host
        self.address = address
        self.reason = reason


Policy = Callable[[IPAddress], str | None]
"""Why an address is refused (None: it may be reached)."""

Resolver = Callable[[str, int, float | None], Awaitable[list[IPAddress]]]
"""host, port, timeout -> its addresses (the system resolver's by default; tests pass their own)."""


def allow_all(_: IPAddress) -> None:
    return None


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves, vets each address with `policy`, and connects to a vetted IP; everything after the TCP
    connection is the inner backend's."""

    def __init__(
        self,
        policy: Policy = forbidden_reason,
        inner: httpcore.AsyncNetworkBackend | None = None,
        resolve: Resolver | None = None,
    ) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()
        self._resolve = resolve if resolve is not None else resolve_host

    # The signatures are httpcore's AsyncNetworkBackend's, timeout parameters included.
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        addresses = await self._resolve(host, port, timeout)
        for address in addresses:
            reason = self._policy(address)
            if reason is not None:
                # One forbidden answer refuses the name: a name resolving both outside and inside is the usual
                # shape of a rebinding attack, and connecting to its public half would only hide it.
                raise ForbiddenAddress(host, str(address), reason)
        last_error: Exception | None = None
        for address in addresses:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=remaining, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable from actions")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def resolve_host(host: str, port: int, within: float | None) -> list[IPAddress]:
    """The addresses `host` resolves to (an IP literal: itself), within `within` seconds."""
    try:
        async with asyncio.timeout(within):
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"resolving {host} took longer than {within:g}s") from exc
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    # A scope id (fe80::1%eth0) is not part of what ip_address parses; the address itself is what is vetted.
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise httpcore.ConnectError(f"{host} resolves to no address")
    return list(dict.fromkeys(addresses))


def guarded_transport(
    *,
    allow_private_networks: bool,
    limits: httpx.Limits | None = None,
    policy: Policy | None = None,
    resolve: Resolver | None = None,
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through the guard. With `allow_private_networks` the
    guard lets everything through (the same code path, so local tests exercise it); `policy` overrides both."""
    limits = limits if limits is not None else httpx.Limits(max_connections=100, max_keepalive_connections=20)
    transport = httpx.AsyncHTTPTransport(trust_env=False, limits=limits)
    chosen = policy if policy is not None else (allow_all if allow_private_networks else forbidden_reason)
    # httpx 0.28 has no public way to give its transport a network backend (encode/httpx#3749 proposes one), so
    # the pool it built is swapped for one with the same settings and the guard as its backend.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedNetworkBackend(chosen, resolve=resolve),
    )
    return transport
