"""`-p` as users write it, and published ports as ps and the API show them (pure logic)."""

from __future__ import annotations

import pytest

from husk.define import InvalidArgument
from husk.network.networks import parse_mode
from husk.network.ports import check_mapping, docker_ports, parse_publish, ps_text
from husk.state.records import PortMapping


def test_publish_forms():
    assert parse_publish("127.0.0.1:8080:80") == [PortMapping(container_port=80, host_port=8080, host_ip="127.0.0.1")]
    assert parse_publish("8080:80/udp") == [PortMapping(container_port=80, host_port=8080, protocol="udp")]
    assert parse_publish("[::1]:8080:80") == [PortMapping(container_port=80, host_port=8080, host_ip="::1")]
    assert parse_publish("9000-9001:90-91") == [PortMapping(container_port=90, host_port=9000, range=2)]
    assert parse_publish("8080:80/tcp,udp") == [PortMapping(container_port=80, host_port=8080),
                                                  PortMapping(container_port=80, host_port=8080, protocol="udp")]
    (random,) = parse_publish("127.0.0.1::80")
    assert random.container_port == 80 and 1024 <= random.host_port <= 65535 and random.host_ip == "127.0.0.1"


@pytest.mark.parametrize("bad", ["", "80/icmp", "1:2:3:4", "x:80", "0:80", "70000", "8000-8001:80", "a.b:1:2",
                                 "[::1:80"])
def test_bad_publish_is_one_clear_error(bad):
    with pytest.raises(InvalidArgument):
        parse_publish(bad)


def test_ports_as_ps_and_docker_show_them():
    mappings = [PortMapping(container_port=80, host_port=8080, host_ip="127.0.0.1"),
                PortMapping(container_port=90, host_port=9000, protocol="udp", range=2)]
    assert ps_text(mappings) == "127.0.0.1:8080->80/tcp, 0.0.0.0:9000-9001->90-91/udp"
    assert docker_ports(mappings) == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                                      "90/udp": [{"HostIp": "0.0.0.0", "HostPort": "9000"}],
                                      "91/udp": [{"HostIp": "0.0.0.0", "HostPort": "9001"}]}


def test_an_archive_port_mapping_is_checked():
    check_mapping(PortMapping(container_port=80, host_port=8080))
    for bad in (PortMapping(container_port=80, host_port=65535, range=2), PortMapping(container_port=0, host_port=1),
                PortMapping(container_port=80, host_port=80, protocol="icmp"),
                PortMapping(container_port=80, host_port=80, host_ip="nope")):
        with pytest.raises(InvalidArgument):
            check_mapping(bad)


def test_network_modes():
    assert parse_mode([]) == ("bridge", [])
    assert parse_mode(["none"]) == ("none", [])
    assert parse_mode("a,b") == ("bridge", ["a", "b"])
    assert parse_mode(["a", "b", "a"]) == ("bridge", ["a", "b"])
    assert parse_mode(["container:x"]) == ("container:x", [])
    assert parse_mode("ns:/proc/1/ns/net") == ("ns:/proc/1/ns/net", [])
    assert parse_mode(["slirp4netns"]) == ("slirp4netns", [])
    assert parse_mode("pasta") == ("pasta", [])
    for bad in (["host", "a"], ["container:x", "a"], ["container:"], ["ns:"], ["bad name"], ["slirp4netns", "a"]):
        with pytest.raises(InvalidArgument):
            parse_mode(bad)


def test_expose_values_and_publish_all():
    from husk.formats.exposed import parse_expose
    from husk.network.ports import publish_all

    assert parse_expose(["80", "90-91/udp", "80/tcp", "53/SCTP"]) == ["80/tcp", "90/udp", "91/udp", "53/sctp"]
    for bad in ("80/icmp", "0", "70000", "x", "9-8"):
        with pytest.raises(InvalidArgument):
            parse_expose([bad])
    published = parse_publish("127.0.0.1:8080:80")
    added = publish_all(["80/tcp", "81/tcp", "81/udp"], published)
    assert [(m.container_port, m.protocol, m.host_ip, m.range) for m in added] == [(81, "tcp", "", 1), (81, "udp", "", 1)]
    assert all(1024 < m.host_port <= 65535 for m in added)
