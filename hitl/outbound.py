"""Requests to URLs that users gave (an action's callback_url, a notification route's target),
guarded against server-side request forgery.

A URL passes when it is http or https and every address its host resolves to (one getaddrinfo)
is public: not loopback, private, link-local (the cloud metadata address 169.254.169.254
among them), unique-local, multicast, reserved or unspecified. An IPv4 address carried in IPv6
(IPv4-mapped, 6to4, NAT64) is judged as that IPv4 address. A network of HITL_OUTBOUND_ALLOW
(comma-separated CIDRs: tests and the demo allow loopback) lets its addresses through.

`post` then connects to the address it checked, never to a second lookup's answer (DNS
rebinding): the request's URL names that IP, while the Host header and TLS (SNI and the
certificate's check) keep the host name. It follows no redirect, ignores proxy variables, waits
CONNECT_TIMEOUT seconds to connect, and gives up on the whole exchange after its timeout
(HITL_OUTBOUND_TIMEOUT by default) however slowly the receiver trickles its answer, keeping at
most MAX_ANSWER_BYTES of it.
"""

import asyncio
import ipaddress
import socket
from functools import lru_cache

import httpx
from django.conf import settings

CONNECT_TIMEOUT = 3.0
MAX_ANSWER_BYTES = 64 * 1024
METADATA = frozenset(map(ipaddress.ip_address, ("169.254.169.254", "fd00:ec2::254")))
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
NAT64 = ipaddress.ip_network("64:ff9b::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL may not be requested: its scheme, its form, or an address its host resolves to."""


def check_url(url: str) -> str | None:
    """Why `url` may not be requested, or None. Resolves its host: a name that resolves to a
    forbidden address is refused; one that does not resolve now is not (the sender resolves and
    checks again before every request, so it can never reach a forbidden address through it)."""
    try:
        _addresses(_target(url))
    except Refused as refused:
        return str(refused)
    except httpx.ConnectError:
        pass
    return None


def post(url: str, *, body: bytes, headers: dict, timeout: float | None = None) -> httpx.Response:
    """POST `body` to `url` if it passes the guard; the answer, with at most MAX_ANSWER_BYTES of its
    content. Raises Refused, or httpx.HTTPError when the host does not resolve or the exchange fails
    or outlasts the timeout (the answer's status is the caller's to judge). For workers' sync code:
    it runs its own event loop, so that one deadline bounds the whole exchange."""
    target = _target(url)
    address = _addresses(target)[0]
    total = settings.HITL_OUTBOUND_TIMEOUT if timeout is None else timeout
    try:
        return asyncio.run(asyncio.wait_for(_exchange(target, address, body, headers, total), total))
    except TimeoutError:
        raise httpx.TimeoutException(f"No complete answer within {total:g} s.") from None


async def _exchange(target: httpx.URL, address: Address, body: bytes, headers: dict, total: float) -> httpx.Response:
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    request_headers = {**headers, "Host": target.netloc.decode("ascii")}
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(total, connect=min(CONNECT_TIMEOUT, total)), follow_redirects=False, trust_env=False
    ) as client:
        pinned = target.copy_with(host=str(address))
        async with client.stream(
            "POST", pinned, content=body, headers=request_headers, extensions=extensions
        ) as answer:
            content = b""
            async for chunk in answer.aiter_bytes():
                content += chunk
                if len(content) >= MAX_ANSWER_BYTES:
                    break
    return httpx.Response(answer.status_code, content=content[:MAX_ANSWER_BYTES], request=httpx.Request("POST", target))


def _target(url: str) -> httpx.URL:
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as error:
        raise Refused(f"Not a valid URL: {error}.") from None
    if target.scheme not in ("http", "https"):
        raise Refused("Must be an http or https URL.")
    if not target.host:
        raise Refused("The URL has no host.")
    return target


def _addresses(target: httpx.URL) -> list[Address]:
    """Every address the URL's host resolves to, once each, in the resolver's order; Refused if any
    is forbidden, httpx.ConnectError if the host does not resolve."""
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(target.host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise httpx.ConnectError(f"Cannot resolve {target.host}: {error}.") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in found))
    for address in addresses:
        kind = forbidden_kind(address)
        if kind:
            said = "is" if _is_address(target.host) else f"resolves to {address},"
            raise Refused(f"{target.host} {said} {kind}; only public addresses may be called.")
    if not addresses:
        raise httpx.ConnectError(f"{target.host} resolves to no address.")
    return addresses


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def forbidden_kind(address: Address) -> str | None:
    """What makes `address` one that may not be called (e.g. "a loopback address"), or None."""
    address = _embedded_ipv4(address) or address
    if any(address in network for network in allowed_networks(settings.HITL_OUTBOUND_ALLOW)):
        return None
    if address in METADATA:
        return "a cloud metadata address"
    for kind, matches in (
        ("an unspecified address", address.is_unspecified),
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a unique-local address", address.version == 6 and address in UNIQUE_LOCAL),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
        ("not a public address", not address.is_global),
    ):
        if matches:
            return kind
    return None


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, NAT64), which is where it goes."""
    if address.version == 4:
        return None
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@lru_cache(maxsize=8)
def allowed_networks(setting: str) -> tuple:
    """The networks of HITL_OUTBOUND_ALLOW ("127.0.0.0/8,::1/128"); a bad entry is an error naming it."""
    networks = []
    for entry in filter(None, (part.strip() for part in setting.split(","))):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"HITL_OUTBOUND_ALLOW: {entry!r} is not a network (CIDR such as 127.0.0.0/8).") from None
    return tuple(networks)
