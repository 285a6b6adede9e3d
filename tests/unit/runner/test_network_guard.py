"""The SSRF guard: which addresses an http-request may reach, checked on the address actually connected to."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from tests.unit.runner.fakes import START
from tests.unit.runner.local_server import local_server

from wfa.domain.clock import FakeClock
from wfa.domain.errors import ActionFailed
from wfa.domain.workflow import HttpRequestAction
from wfa_runner.actions import HttpRequestRunner, http_client
from wfa_runner.network_guard import IPAddress, Policy, Resolver, forbidden_reason, resolve_host


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("0.1.2.3", "reserved"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("192.0.2.10", "not globally routable"),  # TEST-NET-1
        ("2001:db8::1", "not globally routable"),  # documentation
    ],
)
def test_internal_addresses_are_forbidden(address: str, reason: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("::ffff:127.0.0.1", "loopback (IPv4 127.0.0.1 inside IPv6)"),
        ("::ffff:10.0.0.1", "private (IPv4 10.0.0.1 inside IPv6)"),
        ("::ffff:169.254.169.254", "cloud metadata (IPv4 169.254.169.254 inside IPv6)"),
        ("2002:7f00:1::", "loopback (IPv4 127.0.0.1 inside IPv6)"),  # 6to4
        ("64:ff9b::a9fe:a9fe", "cloud metadata (IPv4 169.254.169.254 inside IPv6)"),  # NAT64
    ],
)
def test_ipv4_inside_ipv6_is_judged_as_the_ipv4_address(address: str, reason: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with local_server() as url:
        yield url


def _runner(client: Any) -> HttpRequestRunner:
    return HttpRequestRunner(client, clock=FakeClock(START), output_max_bytes=4096, max_response_bytes=10**6)


@pytest.fixture
async def guarded() -> AsyncIterator[HttpRequestRunner]:
    client = http_client(allow_private_networks=False, max_redirects=3)
    try:
        yield _runner(client)
    finally:
        await client.aclose()


@pytest.fixture
async def open_runner() -> AsyncIterator[HttpRequestRunner]:
    client = http_client(allow_private_networks=True, max_redirects=3)
    try:
        yield _runner(client)
    finally:
        await client.aclose()


def action(url: str) -> HttpRequestAction:
    return HttpRequestAction.model_validate({"type": "http-request", "name": "call", "url": url})


async def refusal(runner: HttpRequestRunner, url: str) -> ActionFailed:
    with pytest.raises(ActionFailed) as caught:
        await runner.run(action(url))
    return caught.value


async def test_a_loopback_ip_is_refused(guarded: HttpRequestRunner, base_url: str) -> None:
    failure = await refusal(guarded, f"{base_url}/status/200")

    assert (failure.kind, failure.retryable) == ("forbidden_address", False)
    assert "127.0.0.1 is a loopback address" in str(failure)


async def test_an_ipv6_loopback_literal_is_refused(guarded: HttpRequestRunner) -> None:
    failure = await refusal(guarded, "http://[::1]:8080/")

    assert failure.kind == "forbidden_address"


async def test_a_name_resolving_to_loopback_is_refused(guarded: HttpRequestRunner, base_url: str) -> None:
    failure = await refusal(guarded, base_url.replace("127.0.0.1", "localhost") + "/status/200")

    assert (failure.kind, failure.retryable) == ("forbidden_address", False)
    assert str(failure).startswith("localhost (")


async def test_a_name_resolving_to_loopback_is_reached_when_private_networks_are_allowed(
    open_runner: HttpRequestRunner, base_url: str
) -> None:
    url = base_url.replace("127.0.0.1", "localhost")

    output = await open_runner.run(action(f"{url}/echo"))

    assert output["status"] == 200
    assert isinstance(output["body"], dict)
    # Connected to a resolved IP, yet the request still names the host it was addressed to.
    assert output["body"]["headers"]["Host"] == url.removeprefix("http://")


def _only(allowed: str) -> Policy:
    """A guard that treats `allowed` as public (so the test server stands in for an outside site)."""

    def policy(address: IPAddress) -> str | None:
        return None if str(address) == allowed else forbidden_reason(address)

    return policy


async def test_a_redirect_to_loopback_is_refused(base_url: str) -> None:
    port = base_url.rsplit(":", 1)[1]
    client = http_client(allow_private_networks=False, max_redirects=3, policy=_only("127.0.0.1"))
    try:
        runner = _runner(client)
        assert (await runner.run(action(f"{base_url}/status/200")))["status"] == 200

        failure = await refusal(runner, f"{base_url}/redirect-to?url=http://127.0.0.2:{port}/status/200")
    finally:
        await client.aclose()

    assert (failure.kind, failure.retryable) == ("forbidden_address", False)
    assert "127.0.0.2 is a loopback address" in str(failure)


async def test_a_redirect_to_loopback_is_followed_when_private_networks_are_allowed(
    open_runner: HttpRequestRunner, base_url: str
) -> None:
    port = base_url.rsplit(":", 1)[1]

    output = await open_runner.run(action(f"{base_url}/redirect-to?url=http://localhost:{port}/status/200"))

    assert output["status"] == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.64.0.1/",
        "http://[::ffff:127.0.0.1]:8080/",  # IPv4-mapped
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
        "http://2130706433:8080/",  # 127.0.0.1 spelt as one decimal number
        "http://0x7f.1:8080/",  # and in hex, short form
        "http://0/",
    ],
)
async def test_internal_targets_are_refused_before_connecting(guarded: HttpRequestRunner, url: str) -> None:
    failure = await refusal(guarded, url)

    assert (failure.kind, failure.retryable) == ("forbidden_address", False)
    assert "http-request actions may only reach public addresses" in str(failure)


def _resolving(names: dict[str, list[str]]) -> Resolver:
    """A resolver with fixed answers (for names no real DNS has); everything else through the system's."""

    async def resolve(host: str, port: int, within: float | None) -> list[IPAddress]:
        if host in names:
            return [ipaddress.ip_address(address) for address in names[host]]
        return await resolve_host(host, port, within)

    return resolve


async def test_a_name_with_one_internal_address_among_public_ones_is_refused(base_url: str) -> None:
    # The usual shape of DNS rebinding: answer a public address to whoever checks, an internal one to whoever
    # connects. Here both come in one answer; the guard refuses the name rather than pick the public one.
    port = base_url.rsplit(":", 1)[1]
    client = http_client(
        allow_private_networks=False,
        max_redirects=3,
        resolve=_resolving({"rebind.test": ["93.184.215.14", "127.0.0.1"]}),
    )
    try:
        failure = await refusal(_runner(client), f"http://rebind.test:{port}/status/200")
    finally:
        await client.aclose()

    assert (failure.kind, failure.retryable) == ("forbidden_address", False)
    assert str(failure).startswith("rebind.test (127.0.0.1) is a loopback address")


async def test_the_connection_goes_to_the_address_that_was_checked(base_url: str) -> None:
    # One resolution per connection, and the connection is made to the vetted IP itself: a resolver that changes
    # its answer between a check and a connect (DNS rebinding) has no second answer to give.
    port = base_url.rsplit(":", 1)[1]
    answers: list[str] = []

    async def resolve(host: str, port_: int, within: float | None) -> list[IPAddress]:
        answers.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    client = http_client(allow_private_networks=False, max_redirects=3, policy=_only("127.0.0.1"), resolve=resolve)
    try:
        output = await _runner(client).run(action(f"http://service.test:{port}/echo"))
    finally:
        await client.aclose()

    assert output["status"] == 200
    assert answers == ["service.test"]
    assert isinstance(output["body"], dict)
    assert output["body"]["headers"]["Host"] == f"service.test:{port}"


async def test_a_redirect_to_an_internal_name_is_refused(base_url: str) -> None:
    port = base_url.rsplit(":", 1)[1]
    client = http_client(
        allow_private_networks=False,
        max_redirects=3,
        policy=_only("127.0.0.1"),
        resolve=_resolving({"metadata.test": ["169.254.169.254"]}),
    )
    try:
        failure = await refusal(_runner(client), f"{base_url}/redirect-to?url=http://metadata.test:{port}/")
    finally:
        await client.aclose()

    assert (failure.kind, failure.retryable) == ("forbidden_address", False)
    assert "metadata.test (169.254.169.254) is a cloud metadata address" in str(failure)
