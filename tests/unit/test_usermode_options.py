"""`--network slirp4netns:OPTIONS`: podman's option names and messages, as slirp4netns's flags."""

from __future__ import annotations

import pytest

from husk.define import InvalidArgument
from husk.network.networks import parse_mode
from husk.network.usermode import slirp4netns_flags

DEFAULTS = ["--mtu=65520", "--disable-host-loopback"]


@pytest.mark.parametrize("options, flags", [
    ("", DEFAULTS),
    ("mtu=1500", ["--mtu=1500", "--disable-host-loopback"]),
    ("allow_host_loopback=true,enable_ipv6=true", ["--mtu=65520", "--enable-ipv6"]),
    ("allow_host_loopback=false,enable_ipv6=false,port_handler=slirp4netns", DEFAULTS),
    ("cidr=10.9.0.0/24,outbound_addr=127.0.0.1,outbound_addr6=lo",
     [*DEFAULTS, "--cidr=10.9.0.0/24", "--outbound-addr=127.0.0.1", "--outbound-addr6=lo"]),
])
def test_options_as_flags(options, flags):
    assert slirp4netns_flags(options) == flags


@pytest.mark.parametrize("options, message", [  # podman 4.3.1's, checked by hand (it gives them at start)
    ("foo", 'unknown option for slirp4netns: "foo"'),
    ("mtu=1500,bogus=1", 'unknown option for slirp4netns: "bogus=1"'),
    ("mtu=abc", 'invalid mtu "abc"'),
    ("mtu=10", 'invalid mtu "10"'),
    ("cidr=x", 'invalid cidr "x"'),
    ("cidr=fd00::/64", 'invalid cidr "fd00::/64"'),
    ("port_handler=x", 'unknown port_handler for slirp4netns: "x"'),
    ("allow_host_loopback=x", 'invalid value of allow_host_loopback for slirp4netns: "x"'),
    ("enable_ipv6=x", 'invalid value of enable_ipv6 for slirp4netns: "x"'),
    ("outbound_addr=nosuch", 'invalid outbound_addr "nosuch"'),
    ("outbound_addr6=nosuch", 'invalid outbound_addr6: "nosuch"'),
    ("outbound_addr6=127.0.0.1", 'invalid outbound_addr6: "127.0.0.1"'),
])
def test_bad_options_with_podman_s_messages(options, message):
    with pytest.raises(InvalidArgument) as caught:
        slirp4netns_flags(options)
    assert str(caught.value) == message


def test_the_mode_keeps_its_comma_list_and_is_checked():
    assert parse_mode(["slirp4netns:mtu=1500,enable_ipv6=true"]) == ("slirp4netns:mtu=1500,enable_ipv6=true", [])
    with pytest.raises(InvalidArgument, match='^invalid mtu "abc"$'):
        parse_mode("slirp4netns:mtu=abc")


def test_the_remote_client_sends_the_options_where_podman_s_does():
    """podman's service reads slirp4netns's options from network_options only (its netns value
    is ignored: checked against podman 4.3.1's service), as podman's client sends them."""
    from husk.cli.remote_create import _network

    opts = {"network": ("slirp4netns:mtu=1500,enable_ipv6=true",), "ip": "", "ip6": "", "mac_address": "",
            "network_alias": (), "publish": (), "publish_all": False, "expose": ()}
    spec = _network(opts)
    assert (spec["netns"], spec["network_options"]) == \
        ({"nsmode": "slirp4netns"}, {"slirp4netns": ["mtu=1500", "enable_ipv6=true"]})
    assert _network({**opts, "network": ("none",)})["network_options"] is None
