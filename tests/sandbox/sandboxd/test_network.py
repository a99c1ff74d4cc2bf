"""E2B's egress policy (`allow_internet_access`, `network.allow_out/deny_out`, `update_network`)
enforced per address by sandboxd, through the real e2b SDK; and its pure logic.

E2B's semantics: an address in neither list is allowed; an allowOut entry wins over a denyOut
entry; `allow_internet_access=False` is `deny_out=["0.0.0.0/0"]`. A refused connect fails at
once with EACCES, which tells a rule from an address that merely does not answer.
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path

import httpx
import pytest
from e2b import ALL_TRAFFIC, Sandbox
from e2b.exceptions import SandboxException

from tests.sandbox._servers import private_sandboxd
from tests.sandbox.sandboxd._net import NOWHERE, Listener, connect, host_address
from tradeswarm.sandbox.sandboxd._network import EgressPolicy


@pytest.fixture(scope="module")
def outside():
    """A server on a non-loopback address of the host: what a sandbox with a way out reaches."""
    listener = Listener(host_address())
    yield listener
    listener.close()


@pytest.fixture
def make(sandboxd):
    made = []

    def create(**kwargs) -> Sandbox:
        made.append(Sandbox.create("base", **kwargs, **sandboxd.sdk_params))
        return made[-1]

    yield create
    for sb in made:
        sb.kill()


def test_allow_out_opens_only_its_addresses_when_deny_out_closes_everything(make, outside):
    sb = make(network={"deny_out": [ALL_TRAFFIC], "allow_out": [outside.host]})
    assert connect(sb, outside.host, outside.port) == "open"
    assert connect(sb, NOWHERE, 80) == "EACCES"
    assert sb.get_info().network == {"allow_out": [f"{outside.host}/32"], "deny_out": ["0.0.0.0/0"]}
    # the opposite: the same address denied, everything else left open
    sb = make(network={"deny_out": [outside.host]})
    assert connect(sb, outside.host, outside.port) == "EACCES"
    assert connect(sb, NOWHERE, 80, timeout=0.5) != "EACCES"  # no rule refuses it (what answers is the host's network's)


def test_an_address_in_both_lists_is_allowed_and_a_cidr_denies_every_address_in_it(make, outside):
    net = str(ipaddress.ip_network(f"{outside.host}/24", strict=False))
    sb = make(network={"allow_out": [outside.host], "deny_out": [net]})
    assert connect(sb, outside.host, outside.port) == "open"  # allow wins (E2B)
    sb = make(network={"deny_out": [net]})
    assert connect(sb, outside.host, outside.port) == "EACCES"
    before = outside.accepted
    sb = make(allow_internet_access=False)  # E2B: deny_out 0.0.0.0/0
    assert connect(sb, outside.host, outside.port) != "open"
    assert outside.accepted == before


def test_update_network_replaces_the_policy_for_running_commands_too(make, outside):
    sb = make()
    probe = (f"while true; do python3 -c 'import socket\ntry:\n socket.create_connection((\"{outside.host}\", "
             f"{outside.port}), 1); print(\"open\")\nexcept OSError as e: print(e.errno)' >> /tmp/probe; "
             "sleep 0.1; done")
    sb.commands.run(probe, background=True)

    def latest(after: str) -> str:
        """The probe's answer to a connect made after the policy `after` was set."""
        sb.commands.run("echo mark >> /tmp/probe")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = sb.files.read("/tmp/probe").split("\n")
            answers = [line for line in lines[len(lines) - lines[::-1].index("mark"):] if line]
            if len(answers) >= 2:  # the first may come from a connect made before the mark
                return answers[1]
            time.sleep(0.1)
        raise AssertionError(f"the probe wrote nothing after {after}")

    assert latest("start") == "open"
    sb.update_network({"deny_out": [outside.host]})
    assert latest("deny") == "13"  # EACCES, in the loop that was already running
    sb.update_network({})  # replaced, not merged: nothing denied any more
    assert latest("clear") == "open"


def test_closing_the_way_out_keeps_one_loopback_for_every_command(make, outside):
    """As in E2B's VM: a server a command started on 127.0.0.1 stays reachable from the
    commands started after `allow_internet_access` went off (no second, empty loopback)."""
    sb = make()
    sb.commands.run("python3 -m http.server 8000 --bind 127.0.0.1", background=True)
    deadline = time.monotonic() + 20
    while connect(sb, "127.0.0.1", 8000) != "open":
        assert time.monotonic() < deadline, "the sandbox's server never listened"
        time.sleep(0.2)
    assert connect(sb, outside.host, outside.port) == "open"
    sb.update_network({"deny_out": [ALL_TRAFFIC]})
    assert connect(sb, "127.0.0.1", 8000) == "open"
    assert connect(sb, outside.host, outside.port) == "EACCES"  # the opposite: nothing else


def test_bad_rules_are_refused_with_one_line_and_leave_no_sandbox(make, sandboxd):
    count = len(Sandbox.list(**sandboxd.sdk_params).next_items())
    for network, says in (({"allow_out": ["example.com"], "deny_out": [ALL_TRAFFIC]}, "domain names"),
                          ({"deny_out": ["10.0.0.0/33"]}, "not an IP address or CIDR block")):
        with pytest.raises(SandboxException) as e:
            make(network=network)
        assert "400" in str(e.value) and says in str(e.value) and "\n" not in str(e.value).strip()
    assert len(Sandbox.list(**sandboxd.sdk_params).next_items()) == count
    sb = make(network={"deny_out": ["10.0.0.0/8"]})  # the opposite: good rules are taken
    with pytest.raises(SandboxException, match="400"):
        sb.update_network({"deny_out": ["not-an-address"]})
    assert sb.get_info().network == {"allow_out": [], "deny_out": ["10.0.0.0/8"]}  # unchanged


def test_without_isolation_rules_are_refused_not_ignored(tmp_path: Path):
    with private_sandboxd(tmp_path, "--no-isolation") as params:
        r = httpx.post(f"{params['api_url']}/sandboxes", headers={"X-API-KEY": params["api_key"]},
                       json={"templateID": "base", "allow_internet_access": False})
        assert r.status_code == 501 and "isolated" in r.json()["message"]
        sb = Sandbox.create("base", **params)  # the opposite: no rules asked, a sandbox
        sb.kill()


# -- pure logic ---------------------------------------------------------------------------------
def test_policy_parse_follows_e2bs_definitions():
    assert EgressPolicy.parse(None, None) == EgressPolicy() and EgressPolicy().internet
    off = EgressPolicy.parse(False, None)
    assert off.deny == (ipaddress.ip_network("0.0.0.0/0"),) and not off.internet
    assert EgressPolicy.parse(False, {"denyOut": ["0.0.0.0/0"]}) == off  # said twice, one rule
    only = EgressPolicy.parse(None, {"allowOut": ["1.1.1.1"], "denyOut": ["0.0.0.0/0"]})
    assert only.internet and only.allow == (ipaddress.ip_network("1.1.1.1/32"),)
    assert EgressPolicy.parse(True, {"denyOut": ["8.8.8.0/24"]}).internet
    for bad in ({"allowOut": ["*.example.com"]}, {"denyOut": "1.1.1.1"}, {"denyOut": ["1.1.1.1"] * 1001}):
        with pytest.raises(ValueError):
            EgressPolicy.parse(None, bad)


def test_policy_rules_put_every_allow_before_every_deny_and_hold_everything_while_swapped():
    old = EgressPolicy.parse(None, {"denyOut": ["10.0.0.0/8"]})
    new = EgressPolicy.parse(None, {"allowOut": ["10.1.0.0/16", "::1"], "denyOut": ["10.0.0.0/8", "0.0.0.0/0"]})
    lines = new.batch(old).splitlines()
    assert lines[0] == "rule add pref 10 prohibit" and lines[-1] == "rule del pref 10"
    assert lines[1] == "rule del pref 3000"
    prefs = {line.split(" to ")[1]: int(line.split()[3]) for line in lines if " to " in line}
    assert prefs["10.1.0.0/16 lookup main"] < prefs["10.0.0.0/8 prohibit"] < prefs["0.0.0.0/0 prohibit"]
    assert not any("::1" in line for line in lines)  # no IPv6 route out: nothing to rule
    assert EgressPolicy().batch(new).count("rule del") == 4  # 3 of `new`, then the hold
