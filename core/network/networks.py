"""Network definitions, kept in the state store ("networks": name -> record).

A record is podman's network document (what `podman network inspect` shows
and what netavark reads), so it goes to the backend and to users as it is.
The default network is made on first use with podman's settings: `podman`,
a bridge `podman0` on 10.88.0.0/16, no DNS -- unless husk.conf's [network]
section names another subnet or bridge (the tests give each husk its own).
"""

from __future__ import annotations

import os
import re
import time

import msgspec

from ..define import InvalidArgument, NetworkExists, NoSuchNetwork
from ..state.store import encode_record

DEFAULT_NAME = "podman"
DEFAULT_SUBNET = "10.88.0.0/16"
DEFAULT_INTERFACE = "podman0"
#: where podman takes the subnets of new networks from (containers.conf's default_subnet_pools)
SUBNET_POOL = "10.89.0.0/16"
POOL_PREFIX = 24
DRIVERS = ("bridge", "macvlan")
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


class LeaseRange(msgspec.Struct, omit_defaults=True):
    start_ip: str = ""
    end_ip: str = ""


class Subnet(msgspec.Struct, omit_defaults=True):
    subnet: str
    gateway: str = ""
    lease_range: LeaseRange | None = None


class Network(msgspec.Struct, omit_defaults=True):
    """podman's network document; field order is `podman network inspect`'s."""

    name: str
    id: str
    driver: str = "bridge"
    network_interface: str = ""
    created: str = ""
    subnets: list[Subnet] = []
    ipv6_enabled: bool = False
    internal: bool = False
    dns_enabled: bool = False
    labels: dict[str, str] = {}
    options: dict[str, str] = {}
    ipam_options: dict[str, str] = {}


_decode = msgspec.json.Decoder(Network).decode


def document(network: Network) -> dict:
    """The network as podman's JSON document (inspect, the backend): empty
    labels, options and lease ranges left out, the flags always there."""
    from ..formats.timestamps import GoTime

    given = msgspec.to_builtins(network)
    given["created"] = GoTime(network.created)  # a time.Time in podman's types.Network
    return {field: given.get(field, getattr(network, field)) for field in Network.__struct_fields__
            if field in given or field in _ALWAYS}


_ALWAYS = ("name", "id", "driver", "network_interface", "created", "subnets", "ipv6_enabled", "internal",
           "dns_enabled")


def _now() -> str:
    """RFC 3339 with nanoseconds, as podman writes `created`."""
    seconds = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds // 10**9)) + f".{seconds % 10**9:09d}Z"


def default_network(name: str = DEFAULT_NAME, subnet: str = DEFAULT_SUBNET,
                    interface: str = DEFAULT_INTERFACE) -> Network:
    """The default network.  Its id is podman's (sha256 of the name) with
    podman's settings; configured otherwise, it is another network with an id
    of its own (netavark names firewall chains after the id, so two husks with
    different default networks must not share one)."""
    import hashlib  # here: OpenSSL's _hashlib is a few ms of every run's start-up otherwise
    import ipaddress  # here too: create --network none/host needs only parse_mode (~1 ms)

    net = ipaddress.ip_network(subnet)
    settings = name if (subnet, interface) == (DEFAULT_SUBNET, DEFAULT_INTERFACE) else f"{name}/{net}/{interface}"
    return Network(name=name, id=hashlib.sha256(settings.encode()).hexdigest(), driver="bridge",
                   network_interface=interface, created=_now(),
                   subnets=[Subnet(subnet=str(net), gateway=str(net.network_address + 1))],
                   ipv6_enabled=net.version == 6, ipam_options={"driver": "host-local"})


# -- the store ------------------------------------------------------------------------------
def get(store, name_or_id: str, default: Network | None = None) -> Network:
    """A network by name, full id or unique id prefix; the default network is
    made here on first use when `default` is given."""
    def find(txn):
        db = store.db["networks"]
        raw = txn.get(name_or_id.encode("utf-8", "surrogateescape"), db=db) if name_or_id else None  # argv's bytes
        if raw is not None:
            return [raw]
        if not name_or_id or len(name_or_id) > 64:
            return []
        return [raw for _, raw in txn.cursor(db=db) if _decode(raw).id.startswith(name_or_id)]
    found = store.transaction(find) if "\0" not in name_or_id else []
    if not found and default is not None and name_or_id == default.name:
        return add(store, default, exist_ok=True)
    if len(found) > 1:
        raise InvalidArgument(f'more than one result for network ID prefix "{name_or_id}"')
    if not found:
        raise NoSuchNetwork(f"unable to find network with name or ID {name_or_id}: network not found")
    return _decode(found[0])


def all_networks(store) -> list[Network]:
    raws = store.transaction(lambda txn: [raw for _, raw in txn.cursor(db=store.db["networks"])])
    return sorted((_decode(raw) for raw in raws), key=lambda n: n.name)


def add(store, network: Network, exist_ok: bool = False) -> Network:
    """Store a new network; its name, bridge and subnets must be free (checked
    in the same transaction, so two creates never both win)."""
    def change(txn):
        db = store.db["networks"]
        existing = txn.get(network.name.encode(), db=db)
        if existing is not None:
            if exist_ok:
                return _decode(existing)
            raise NetworkExists(f"network name {network.name} already used: network already exists")
        for _, raw in txn.cursor(db=db):
            _check_no_overlap(network, _decode(raw))
        txn.put(network.name.encode(), encode_record(network), db=db)
        return network
    return store.transaction(change, write=True)


def _check_no_overlap(new: Network, old: Network) -> None:
    import ipaddress

    if new.driver == "bridge" and new.network_interface and new.network_interface == old.network_interface:
        raise InvalidArgument(f"bridge name {new.network_interface} already in use")
    for ours in new.subnets:
        for theirs in old.subnets:
            if ipaddress.ip_network(ours.subnet).overlaps(ipaddress.ip_network(theirs.subnet)):
                raise InvalidArgument(f"subnet {ours.subnet} is already used on the host or by another config")


def remove(store, name: str) -> None:
    store.transaction(lambda txn: txn.delete(name.encode(), db=store.db["networks"]), write=True)


# -- creating -------------------------------------------------------------------------------
def check_attachment(name: str, attachment) -> None:
    """Refuse what `--network NAME --ip ... --mac-address ... --network-alias ...`
    could not have made (a checkpoint archive's networks)."""
    import ipaddress

    check_name(name)
    try:
        for ip in attachment.static_ips:
            ipaddress.ip_address(ip)
    except ValueError as exc:
        raise InvalidArgument(f"network {name}: {exc}") from None
    if attachment.static_mac and not re.fullmatch(r"([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}", attachment.static_mac):
        raise InvalidArgument(f"network {name}: invalid MAC address {attachment.static_mac!r}")
    if attachment.interface_name and not re.fullmatch(r"[a-zA-Z0-9_.-]{1,15}", attachment.interface_name):
        raise InvalidArgument(f"network {name}: invalid interface name {attachment.interface_name!r}")
    for alias in attachment.aliases:
        check_name(alias)


def check_host_files(host_files) -> None:
    """podman's checks of --dns, --dns-search and --add-host values."""
    import ipaddress

    for server in host_files.dns_servers:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise InvalidArgument(f"{server} is not an ip address") from None
    for entry in host_files.add_hosts:
        host, sep, ip = entry.partition(":")
        try:
            if not sep or not host:
                raise ValueError
            ipaddress.ip_address(ip)
        except ValueError:
            raise InvalidArgument(f'invalid IP address in add-host: "{ip if sep else entry}"') from None
    for text in [*host_files.dns_search, *host_files.dns_options]:
        if not text or any(c.isspace() for c in text):
            raise InvalidArgument(f"invalid DNS search domain or option {text!r}")


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise InvalidArgument(f"network name {name} invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: "
                              "invalid argument")
    return name


def new_network(store, name: str, driver: str = "bridge", subnets: list[str] = (), gateways: list[str] = (),
                ip_ranges: list[str] = (), internal: bool = False, ipv6: bool = False, dns: bool = True,
                options: dict[str, str] | None = None, labels: dict[str, str] | None = None,
                interface: str = "") -> Network:
    """A network as `network create` makes it: podman's checks, and a free
    subnet (from 10.89.0.0/16 in /24s) and bridge name (podmanN) when none is given."""
    import ipaddress

    check_name(name)
    if driver not in DRIVERS:
        raise InvalidArgument(f"unsupported driver {driver}: invalid argument")
    if len(gateways) > len(subnets) or len(ip_ranges) > len(subnets):
        raise InvalidArgument("cannot set more gateways or ip ranges than subnets")
    taken = all_networks(store)
    chosen = [subnet_record(s, g, r) for s, g, r in zip(subnets, [*gateways, *[""] * len(subnets)],
                                                    [*ip_ranges, *[""] * len(subnets)])]
    if not chosen:
        chosen = [Subnet(subnet=(free := _free_subnet(taken)), gateway=str(ipaddress.ip_network(free)[1]))]
    if ipv6 and not any(":" in s.subnet for s in chosen):
        raise InvalidArgument("ipv6 without a subnet needs --subnet with an IPv6 subnet")
    options = dict(options or {})
    if driver == "bridge":
        interface = interface or options.pop("com.docker.network.bridge.name", "") or _free_bridge(taken)
    else:
        interface = options.pop("parent", "") or interface
    return Network(name=name, id=os.urandom(32).hex(), driver=driver, network_interface=interface, created=_now(),
                   subnets=chosen, ipv6_enabled=ipv6 or any(":" in s.subnet for s in chosen), internal=internal,
                   dns_enabled=dns and driver == "bridge", labels=dict(labels or {}), options=options,
                   ipam_options={"driver": "host-local"})


def subnet_record(subnet: str, gateway: str, ip_range: str) -> Subnet:
    """One subnet as `--subnet`, `--gateway` and `--ip-range` give it (the gateway: the first
    address when left out; the range: its hosts), checked; a remote client sends it as it is."""
    import ipaddress

    try:
        net = ipaddress.ip_network(subnet, strict=False)
        gw = ipaddress.ip_address(gateway) if gateway else net.network_address + 1
        rng = ipaddress.ip_network(ip_range, strict=False) if ip_range else None
    except ValueError as exc:
        raise InvalidArgument(f"{exc}: invalid argument") from None
    if gw not in net:
        raise InvalidArgument(f"gateway {gw} not in subnet {net}")
    lease = None
    if rng is not None:
        if not rng.subnet_of(net):
            raise InvalidArgument(f"lease range {rng} not in subnet {net}")
        lease = LeaseRange(start_ip=str(rng[1] if rng.num_addresses > 2 else rng[0]),
                           end_ip=str(rng[-2] if rng.num_addresses > 2 else rng[-1]))
    return Subnet(subnet=str(net), gateway=str(gw), lease_range=lease)


def _free_subnet(taken: list[Network]) -> str:
    import ipaddress

    used = [ipaddress.ip_network(s.subnet) for n in taken for s in n.subnets]
    used += _host_routes()
    for candidate in ipaddress.ip_network(SUBNET_POOL).subnets(new_prefix=POOL_PREFIX):
        if not any(candidate.overlaps(u) for u in used):
            return str(candidate)
    raise InvalidArgument("could not find free subnet from subnet pools")


def _host_routes() -> list:
    """The host's IPv4 routes (/proc/net/route): a new subnet must not shadow one."""
    import ipaddress

    routes = []
    try:
        with open("/proc/net/route") as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                dest, mask = int(fields[1], 16), int(fields[7], 16)
                if mask:
                    routes.append(ipaddress.ip_network(
                        (ipaddress.IPv4Address(dest.to_bytes(4, "little")), bin(mask).count("1")), strict=False))
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    return routes


def _free_bridge(taken: list[Network]) -> str:
    used = {n.network_interface for n in taken} | set(os.listdir("/sys/class/net"))
    return next(f"podman{i}" for i in range(1, 1 << 16) if f"podman{i}" not in used)


def parse_mode(values: list[str] | str) -> tuple[str, list[str]]:
    """`--network` values as (mode, named networks): `bridge` (the default
    network), `none`, `host`, `slirp4netns[:OPTIONS]`, `pasta[:OPTIONS]`,
    `container:NAME`, `ns:PATH` (the caller resolves both), or network names
    (one flag each, or a comma list)."""
    # a user-mode program's options are a comma list of their own (slirp4netns:mtu=1500,enable_ipv6=true)
    items = [v for value in ([values] if isinstance(values, str) else values)
             for v in ([value] if value.startswith(("slirp4netns:", "pasta:")) else value.split(",")) if v]
    if not items:
        return "bridge", []
    special = [v for v in items if v in ("none", "host", "bridge", "private", "slirp4netns", "pasta") or ":" in v]
    if special and len(items) > 1:
        raise InvalidArgument(f"network mode {special[0]} cannot be combined with other networks: invalid argument")
    if special:
        mode = "bridge" if special[0] == "private" else special[0]
        kind, _, target = mode.partition(":")
        if kind in ("container", "ns") and target:
            return mode, []
        if kind in ("slirp4netns", "pasta"):  # user-mode networking (husk.network.usermode)
            if kind == "slirp4netns" and target:
                from .usermode import slirp4netns_flags

                slirp4netns_flags(target)  # a bad option is refused at create
            return mode, []
        if mode not in ("none", "host", "bridge"):
            raise InvalidArgument(f'invalid network mode "{mode}": invalid argument')
        return mode, []
    for name in items:
        check_name(name)
    return "bridge", list(dict.fromkeys(items))
