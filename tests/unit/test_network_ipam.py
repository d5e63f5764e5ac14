"""IPAM and network definitions in the state store (a real LMDB store in a
temporary directory; no network is touched)."""

from __future__ import annotations

import multiprocessing

import pytest

from husk.define import InvalidArgument, NetworkExists, NoSuchNetwork
from husk.network import ipam, networks
from husk.state.store import open_store

ID_A, ID_B = "a" * 64, "b" * 64


@pytest.fixture
def store(tmp_path):
    return open_store(str(tmp_path / "state"))


def test_default_network_is_podmans_and_made_on_first_use(store):
    default = networks.default_network()
    network = networks.get(store, "podman", default)
    assert (network.name, network.network_interface, network.subnets[0].subnet, network.subnets[0].gateway,
            network.dns_enabled) == ("podman", "podman0", "10.88.0.0/16", "10.88.0.1", False)
    assert network.id == "2f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9"
    assert networks.get(store, "2f259bab").name == "podman"


def test_unknown_network_is_podmans_message(store):
    with pytest.raises(NoSuchNetwork, match="unable to find network with name or ID nope: network not found"):
        networks.get(store, "nope")


def test_leases_are_lowest_free_skip_gateway_and_are_kept(store):
    network = networks.get(store, "podman", networks.default_network())
    assert ipam.allocate(store, network, ID_A) == ["10.88.0.2"]
    assert ipam.allocate(store, network, ID_B) == ["10.88.0.3"]
    assert ipam.allocate(store, network, ID_A) == ["10.88.0.2"]  # a restart finds its address again
    ipam.release(store, ID_A)
    assert ipam.allocate(store, network, "c" * 64) == ["10.88.0.2"]


def test_static_ip_taken_is_refused_with_podmans_message(store):
    network = networks.get(store, "podman", networks.default_network())
    ipam.allocate(store, network, ID_A, ["10.88.0.9"])
    with pytest.raises(InvalidArgument, match=f"requested ip address 10.88.0.9 is already allocated to "
                                              f"container ID {ID_A}"):
        ipam.allocate(store, network, ID_B, ["10.88.0.9"])
    with pytest.raises(InvalidArgument, match="not in any subnet"):
        ipam.allocate(store, network, ID_B, ["192.168.0.1"])


def test_lease_range_and_full_subnet(store):
    network = networks.new_network(store, "small", subnets=["10.250.0.0/29"], ip_ranges=["10.250.0.4/30"])
    networks.add(store, network)
    assert ipam.allocate(store, network, ID_A) == ["10.250.0.5"]
    assert ipam.allocate(store, network, ID_B) == ["10.250.0.6"]
    with pytest.raises(InvalidArgument, match="failed to find free IP"):
        ipam.allocate(store, network, "c" * 64)


def _allocate_in_child(path: str, index: int, queue) -> None:
    store = open_store(path)
    network = networks.get(store, "podman")
    queue.put(ipam.allocate(store, network, f"{index:064x}")[0])


def test_twenty_parallel_allocations_get_twenty_addresses(tmp_path):
    path = str(tmp_path / "state")
    networks.get(open_store(path), "podman", networks.default_network())
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    children = [context.Process(target=_allocate_in_child, args=(path, i, queue)) for i in range(20)]
    for child in children:
        child.start()
    addresses = [queue.get(timeout=60) for _ in children]
    for child in children:
        child.join()
    assert len(set(addresses)) == 20


def test_create_checks_names_drivers_and_overlaps(store):
    with pytest.raises(InvalidArgument, match=r"network name bad name invalid: names must match"):
        networks.new_network(store, "bad name")
    with pytest.raises(InvalidArgument, match="unsupported driver ipvlan: invalid argument"):
        networks.new_network(store, "n", driver="ipvlan")
    first = networks.new_network(store, "one")
    networks.add(store, first)
    assert first.subnets[0].subnet.startswith("10.89.") and first.network_interface.startswith("podman")
    assert first.dns_enabled
    with pytest.raises(NetworkExists, match="network name one already used: network already exists"):
        networks.add(store, networks.new_network(store, "one"))
    second = networks.new_network(store, "two")
    assert second.subnets[0].subnet != first.subnets[0].subnet
    clash = networks.new_network(store, "three", subnets=[first.subnets[0].subnet])
    with pytest.raises(InvalidArgument, match="is already used"):
        networks.add(store, clash)
