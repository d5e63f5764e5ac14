"""Address leases (IPAM), kept in the state store ("leases": network id, NUL,
address -> container id).  One write transaction finds and takes an address,
so concurrent creates never get the same one.  A container keeps its address
on a network from its first start until it is removed (or disconnected), so
a restart or a restore finds it again.
"""

from __future__ import annotations

import ipaddress

from ..define import InvalidArgument
from .networks import Network


def _prefix(network: Network) -> bytes:
    return network.id.encode() + b"\0"


def allocate(store, network: Network, container_id: str, requested: list[str] = ()) -> list[str]:
    """The container's addresses on `network` (one per subnet): its existing
    leases, else the `requested` static ones (refused when taken), else the
    lowest free ones."""
    wanted = [ipaddress.ip_address(ip) for ip in requested]
    subnets = [(ipaddress.ip_network(s.subnet), s) for s in network.subnets]
    for ip in wanted:
        if not any(ip in net for net, _ in subnets):
            raise InvalidArgument(f"requested static ip {ip} not in any subnet on network {network.name}")

    def change(txn):
        db = store.db["leases"]
        prefix = _prefix(network)
        leases = {}
        cursor = txn.cursor(db=db)
        if cursor.set_range(prefix):
            for key, owner in cursor:
                if not key.startswith(prefix):
                    break
                leases[ipaddress.ip_address(key[len(prefix):].decode())] = owner.decode()
        own = [ip for ip, owner in leases.items() if owner == container_id]
        if own and not wanted:
            return [str(ip) for ip in sorted(own)]
        for ip in own:
            txn.delete(prefix + str(ip).encode(), db=db)
            del leases[ip]
        chosen = []
        for net, subnet in subnets:
            ip = next((w for w in wanted if w in net), None)
            if ip is not None and ip in leases:
                raise InvalidArgument(f"IPAM error: requested ip address {ip} is already allocated to "
                                      f"container ID {leases[ip]}")
            if ip is None:
                ip = _first_free(net, subnet, leases)
            txn.put(prefix + str(ip).encode(), container_id.encode(), db=db)
            chosen.append(str(ip))
        return chosen
    return store.transaction(change, write=True)


def _first_free(net, subnet, leases: dict) -> "ipaddress.IPv4Address | ipaddress.IPv6Address":
    gateway = ipaddress.ip_address(subnet.gateway) if subnet.gateway else None
    first, last = net.network_address + 1, net.broadcast_address - 1
    if subnet.lease_range is not None:
        first = ipaddress.ip_address(subnet.lease_range.start_ip or str(first))
        last = ipaddress.ip_address(subnet.lease_range.end_ip or str(last))
    ip = first
    while ip <= last:
        if ip != gateway and ip not in leases:
            return ip
        ip += 1
    raise InvalidArgument(f"IPAM error: failed to find free IP in range: {first} - {last}")


def release(store, container_id: str, network: Network | None = None) -> None:
    """Free the container's leases: on one network, or on all."""
    owner = container_id.encode()

    def change(txn):
        db = store.db["leases"]
        cursor = txn.cursor(db=db)
        prefix = _prefix(network) if network is not None else b""
        if not cursor.set_range(prefix):
            return
        doomed = []
        for key, value in cursor:
            if not key.startswith(prefix):
                break
            if value == owner:
                doomed.append(key)
        for key in doomed:
            txn.delete(key, db=db)
    store.transaction(change, write=True)


def release_network(store, network: Network) -> None:
    """Free every lease on a network being removed."""
    def change(txn):
        db = store.db["leases"]
        cursor = txn.cursor(db=db)
        prefix = _prefix(network)
        doomed = []
        if cursor.set_range(prefix):
            for key in cursor.iternext(values=False):
                if not key.startswith(prefix):
                    break
                doomed.append(key)
        for key in doomed:
            txn.delete(key, db=db)
    store.transaction(change, write=True)
