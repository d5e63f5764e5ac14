"""A container's networks along its lifecycle: set up at init (a namespace of
husk's own, addresses from the store, the backend plugin wiring them), torn
down at cleanup, and the addresses released at rm.

The namespace file is recorded in the container's state before the backend
is called, so a CLI or monitor killed at any point leaves a record that the
next cleanup (sync after a crash, refresh after a reboot) tears down.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from ..define import HuskError, NotImplementedByPlugin
from ..faults import fault

if TYPE_CHECKING:
    from ..network.backend import NetworkBackend
    from ..network.networks import Network
    from .container import Container
    from .runtime import Runtime


def uses_networks(container: "Container") -> bool:
    return container.config.network == "bridge"


def uses_usermode(container: "Container") -> bool:
    """`--network slirp4netns` or `pasta` (husk.network.usermode)."""
    return container.config.network.partition(":")[0] in ("slirp4netns", "pasta")


def needs_setup(container: "Container") -> bool:
    """Whether init makes the container a network namespace of husk's own (and connects it)."""
    return uses_networks(container) or uses_usermode(container)


def network_names(container: "Container") -> list[str]:
    """The container's networks, in the order it joined them (the default one when none was named)."""
    return list(container.config.networks) or [container.runtime.config.default_network]


def default_network(runtime: "Runtime") -> "Network":
    from ..network.networks import default_network as make

    config = runtime.config
    return make(config.default_network, config.default_subnet, config.default_interface)


def lookup(runtime: "Runtime", name: str) -> "Network":
    """A network by name or id; the default network is made on first use."""
    from ..network import networks

    return networks.get(runtime.store, name, default_network(runtime))


def backend(runtime: "Runtime") -> "NetworkBackend":
    """The configured network backend (the only one registered when none is configured)."""
    backends = runtime.plugins.network_backends
    name = runtime.config.network_backend or next(iter(backends), "")
    if name not in backends:
        if not backends:
            raise NotImplementedByPlugin("bridge networks need a network backend plugin: "
                                         "install the husk-netavark package")
        raise HuskError(f"network backend {name!r} is not installed; installed: {', '.join(backends)}")
    return backends[name](runtime.paths.network_backend_dir(name))


def options(container: "Container", names: list[str] | None = None, dynamic: bool = False) -> dict:
    """The backend's document for this container (see husk.network.backend) on
    `names` (default: its networks), taking its addresses (its leases, else new ones;
    `dynamic`: new ones even where `--ip` asked for one, as `restore --ignore-static-ip`)."""
    from ..network import ipam
    from ..network.networks import document

    config, runtime = container.config, container.runtime
    networks, info = {}, {}
    # the networks set up, in order, when there are any: a process whose config
    # names another default network (an exit command started without the
    # creator's husk.conf) must still tear down eth0 on the network it is on
    joined = list(container.state.network_status) or network_names(container)
    for name in names or joined:
        index = joined.index(name) if name in joined else len(joined)
        network = lookup(runtime, name)
        wanted = config.networks.get(name)
        static = list(wanted.static_ips) if wanted and not dynamic else []
        per = {"interface_name": (wanted.interface_name if wanted and wanted.interface_name else f"eth{index}"),
               "static_ips": ipam.allocate(runtime.store, network, container.id, static),
               "static_mac": wanted.static_mac if wanted and wanted.static_mac else stable_mac(container.id, network.id)}
        if network.dns_enabled:
            per["aliases"] = [config.name, config.id[:12], *(wanted.aliases if wanted else [])]
        networks[network.name] = per
        info[network.name] = document(network)
    document_ = {"container_id": container.id, "container_name": config.name,
                 "container_hostname": config.hostname or config.id[:12],
                 "networks": networks, "network_info": info}
    if config.ports:
        document_["port_mappings"] = [
            {"host_ip": m.host_ip, "container_port": m.container_port, "host_port": m.host_port,
             "range": m.range, "protocol": m.protocol} for m in config.ports]
    return document_


def stable_mac(container_id: str, network_id: str) -> str:
    """The container's MAC address on a network: the same at every start and
    restore (a restored TCP connection needs it), locally administered."""
    try:  # CPython's own SHA-256: hashlib loads OpenSSL's libcrypto (3 ms a bridge run) for this one digest
        from _sha256 import sha256
    except ImportError:  # another interpreter, or Python >= 3.12 (_sha2)
        from hashlib import sha256

    digest = sha256(f"{container_id}/{network_id}".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02 | (digest[0] & 0xFC), *digest[1:6]))


def setup(container: "Container", ignore_static_ip: bool = False, ignore_static_mac: bool = False) -> None:
    """Make the namespace and connect it; a failure leaves nothing behind.
    A restore may drop the container's addresses and MACs for new ones.

    The namespace is recorded before it is made (a CLI killed in between
    leaves a record that teardown follows, not an unknown namespace); the status it answers is saved by the
    caller (init and restore save once the monitor has reported: one fsync
    less).  Unsaved, a teardown disconnects from every network the container
    was to join, as after a setup that never answered."""
    import msgspec

    from ..network import netns
    from ..network.ports import check_free
    from ..state.records import NetworkStatus

    st = container.state
    if uses_usermode(container):
        _setup_usermode(container)
        return
    chosen = backend(container.runtime)
    if ignore_static_ip:
        from ..network import ipam

        ipam.release(container.runtime.store, container.id)
    document_ = options(container, dynamic=ignore_static_ip)
    if ignore_static_mac:
        for per in document_["networks"].values():
            per.pop("static_mac", None)
    check_free(container.config.ports)
    path = container.runtime.paths.netns(container.id)
    st.netns = path
    container.save()  # before the namespace: a CLI killed from here on leaves a record that teardown follows
    try:
        netns.create(path, *_user_namespace(container))
        fault("init.netns.after")
        answer = chosen.setup(path, document_)
        st.network_status = msgspec.convert(answer, dict[str, NetworkStatus])
    except BaseException as exc:
        teardown(container)
        if isinstance(exc, msgspec.ValidationError):
            raise HuskError(f"network backend {chosen.name} answered an invalid status: {exc}") from None
        raise


def _user_namespace(container: "Container") -> tuple:
    """The user namespace a container's network namespace is made in (see husk.network.netns): the
    maps of one of its own, or the file of the one it joins (`ns:PATH`, `container:NAME`'s process);
    nothing without one."""
    options = container.config.run_options
    if not options.uid_mappings:
        return None, None, ""
    kind, _, target = options.userns.partition(":")
    if kind == "ns":
        return None, None, target
    if kind == "container":
        other = container.runtime.container(target)
        if not other.state.pid:
            raise HuskError(f"cannot join the user namespace of container {other.config.name}: it is not running")
        return None, None, f"/proc/{other.state.pid}/ns/user"
    return options.uid_mappings, options.gid_mappings, ""


def _setup_usermode(container: "Container") -> None:
    """A namespace of husk's own, connected by slirp4netns or pasta; a failure leaves nothing behind."""
    from ..network import netns, usermode

    from ..network.ports import check_free

    check_free(container.config.ports)
    path = container.runtime.paths.netns(container.id)
    container.state.netns = path
    container.save()  # before the namespace, as in setup
    try:
        netns.create(path)
        usermode.start(container.config.network, path, container.runtime.paths.container_run_dir(container.id),
                       container.config.ports)
    except BaseException:
        teardown(container)
        raise


def republish(container: "Container", ports: list) -> None:
    """`restore --publish`: the container's published ports from now on (bridge networking only)."""
    import msgspec

    from ..define import InvalidArgument

    if not uses_networks(container):
        raise InvalidArgument(f"--publish needs bridge networking, not network mode {container.config.network}: "
                              "invalid argument")
    config = msgspec.structs.replace(container.config, ports=list(ports))
    container.runtime.store.rewrite_config(config)
    container.config = config


def teardown(container: "Container", save: bool = True) -> None:
    """Disconnect and remove the namespace (a no-op without one); `save`
    False leaves the record to the caller's next save (cleanup's).  After a
    reboot the namespace is gone, but rules the backend wrote may not be: the
    backend tears down a fresh empty namespace then.  A backend's failure is
    a warning on stderr, as in podman: cleanup, rm and refresh must finish;
    none when the setup never answered (killed or failed before or during
    it: the backend then complains of rules it never wrote)."""
    st = container.state
    if not st.netns:
        return  # before netns's import: ctypes, 2 ms of every cleanup without a network
    from ..network import netns

    path = st.netns
    # the networks it is connected to; all it was to join when setup never answered
    names = list(st.network_status) or (network_names(container) if uses_networks(container) else [])
    try:
        if names and not netns.is_bound(path):
            netns.create(path)
        if names:
            backend(container.runtime).teardown(path, options(container, names))
    except (HuskError, OSError) as exc:  # OSError: no room for the fresh namespace's file (a full run root)
        if st.network_status:  # set up: a failure may leave something behind
            print(f"Warning: tearing down the network of container {container.id}: {exc}", file=sys.stderr)
    if uses_usermode(container):
        from ..network import usermode

        usermode.stop(container.runtime.paths.container_run_dir(container.id))
    netns.remove(path)
    st.netns = ""
    st.network_status = {}
    if save:
        container.save()


def release(container: "Container") -> None:
    """Free the container's addresses (rm; also those of networks it has left).
    Only a container in bridge mode ever takes one (:func:`options`): the
    others' rm (run --rm --network none) imports neither ipam nor ipaddress."""
    if not uses_networks(container):
        return
    from ..network import ipam

    ipam.release(container.runtime.store, container.id)


def prepare_bundle(container: "Container", spec: dict, userdata: str) -> None:
    """Point the spec at the container's namespace (or the one it joins) and
    write /etc/hosts and /etc/resolv.conf as podman writes them for a container
    on networks (`--no-hosts`: the image's own /etc/hosts)."""
    st, host_files = container.state, container.config.host_files
    if container.config.network.partition(":")[0] in ("container", "ns"):
        _join_namespace(container, spec)
        return
    if not st.netns:
        return
    from ..network.netns import is_bound, userns_path

    owner = userns_path(st.netns) if is_bound(userns_path(st.netns)) else ""
    for namespace in spec["linux"]["namespaces"]:
        if namespace["type"] == "network":
            namespace["path"] = st.netns
        elif namespace["type"] == "user" and owner:  # the one the network namespace was made in
            namespace["path"] = owner
    # containers.conf's default_sysctls: ping without CAP_NET_RAW, as in podman
    spec["linux"].setdefault("sysctl", {}).setdefault("net.ipv4.ping_group_range", "0 0")
    hostname = container.config.hostname or container.id[:12]
    if host_files.no_hosts:
        spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/etc/hosts"]
    else:
        _write(userdata, "hosts", hosts_content(_read("/etc/hosts"), hostname, container.config.name,
                                                st.network_status, host_files.add_hosts))
    _write(userdata, "resolv.conf", resolv_conf(_read("/etc/resolv.conf"), st.network_status, host_files))


def _join_namespace(container: "Container", spec: dict) -> None:
    """`--network ns:PATH` and `container:ID`: the runtime joins that network
    namespace; with a container's, its /etc/hosts and /etc/resolv.conf are
    bound too, as podman shares them."""
    kind, _, target = container.config.network.partition(":")
    path = target
    if kind == "container":
        from ..define import InvalidArgument, State

        other = container.runtime.container(target)
        if other.state.state not in (State.RUNNING, State.PAUSED) or not other.state.pid:
            raise InvalidArgument(f"cannot join the network namespace of container {other.config.name}: "
                                  "it is not running")
        path = other.state.netns or f"/proc/{other.state.pid}/ns/net"
        theirs = container.runtime.paths.userdata(other.id)
        for mount in spec["mounts"]:
            if mount["destination"] in ("/etc/hosts", "/etc/resolv.conf"):
                mount["source"] = os.path.join(theirs, os.path.basename(mount["destination"]))
    spec["linux"]["namespaces"] = [ns for ns in spec["linux"]["namespaces"] if ns["type"] != "network"] + [
        {"type": "network", "path": path}]


def hosts_content(base: str, hostname: str, name: str, status: dict, add_hosts: list[str] = ()) -> str:
    """podman's: the host's /etc/hosts, the `--add-host` entries, the gateway
    as host.containers.internal, then the container's first address with its
    hostname and name."""
    lines = base if not base or base.endswith("\n") else base + "\n"
    for entry in add_hosts:
        host, _, ip = entry.partition(":")
        lines += f"{ip}\t{host}\n"
    addresses = [(a.ipnet.split("/")[0], a.gateway) for network in status.values()
                 for interface in (network.interfaces or {}).values() for a in interface.subnets or []]
    gateway = next((gw for _, gw in addresses if gw), "")
    if gateway:
        lines += f"{gateway}\thost.containers.internal\n"
    if addresses:
        names = hostname if hostname == name else f"{hostname} {name}"
        lines += f"{addresses[0][0]}\t{names}\n"
    return lines


def resolv_conf(host: str, status: dict, host_files=None) -> str:
    """The host's resolv.conf without loopback nameservers, as it is when
    nothing changes it.  A network with DNS puts its servers (aardvark-dns)
    first and its search domain; `--dns`, `--dns-search` (`.`: none) and
    `--dns-option` replace the host's servers, domains and options."""
    from .spec import resolv_conf_content

    servers = [ip for network in status.values() for ip in network.dns_server_ips or []]
    domains = [d for network in status.values() for d in network.dns_search_domains or []]
    text = resolv_conf_content(host, host_network=False)
    wanted = host_files if host_files is not None and (
        host_files.dns_servers or host_files.dns_search or host_files.dns_options) else None
    if not servers and wanted is None:
        return text
    fields = [line.split() for line in text.splitlines()]
    host_servers = [f[1] for f in fields if f[:1] == ["nameserver"] and len(f) > 1]
    host_search = [d for f in fields if f[:1] == ["search"] for d in f[1:]]
    host_options = [o for f in fields if f[:1] == ["options"] for o in f[1:]]
    if wanted is not None:
        host_servers = wanted.dns_servers or host_servers
        host_search = [d for d in wanted.dns_search if d != "."] if wanted.dns_search else host_search
        host_options = wanted.dns_options or host_options
    search = list(dict.fromkeys(domains + host_search))
    lines = [f"search {' '.join(search)}"] if search else []
    lines += [f"nameserver {ip}" for ip in dict.fromkeys(servers + host_servers)]
    lines += [f"options {' '.join(host_options)}"] if host_options else []
    return "\n".join(lines) + "\n"


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""


def _write(directory: str, name: str, text: str) -> None:
    with open(os.path.join(directory, name), "w") as handle:
        handle.write(text)


# -- the network verbs ------------------------------------------------------------------------
def create_network(runtime: "Runtime", name: str, **settings) -> "Network":
    """`network create`: podman's checks and defaults (see husk.network.networks.new_network)."""
    from ..network import networks

    if not name:
        taken = {n.name for n in list_networks(runtime, {})}
        name = next(f"podman{i}" for i in range(1, 1 << 16) if f"podman{i}" not in taken)
    if name == runtime.config.default_network:
        from ..define import NetworkExists

        raise NetworkExists(f"network name {name} already used: network already exists")
    return networks.add(runtime.store, networks.new_network(runtime.store, name, **settings))


def list_networks(runtime: "Runtime", filters: dict[str, list[str]]) -> list["Network"]:
    """Every network, the default one included (made on first use), filtered as
    podman filters: any value of one key, every key."""
    from ..network import networks

    lookup(runtime, runtime.config.default_network)
    found = networks.all_networks(runtime.store)
    checks = {
        "name": lambda n, v: v in n.name,
        "id": lambda n, v: n.id.startswith(v),
        "driver": lambda n, v: n.driver == v,
        "label": lambda n, v: (n.labels.get(v.partition("=")[0]) == v.partition("=")[2]
                               if "=" in v else v in n.labels),
    }
    return [n for n in found if all(any(checks[key](n, v) for v in values) for key, values in filters.items())]


def containers_on(runtime: "Runtime", network: "Network") -> list["Container"]:
    return [c for c in runtime.containers() if uses_networks(c) and network.name in network_names(c)]


def remove_network(runtime: "Runtime", name: str, force: bool = False, timeout: int | None = None) -> None:
    """`network rm`: refused while containers use it, unless `force` removes them."""
    from ..define import InvalidArgument, NetworkInUse
    from ..network import ipam, networks

    network = lookup(runtime, name)
    if network.name == runtime.config.default_network:
        raise InvalidArgument(f"default network {network.name} cannot be removed")
    users = containers_on(runtime, network)
    if users and not force:
        raise NetworkInUse(f'"{network.name}" has associated containers with it. Use -f to forcibly delete '
                           "containers and pods: network is being used")
    for container in users:
        container.remove(force=True, timeout=timeout)
    ipam.release_network(runtime.store, network)
    networks.remove(runtime.store, network.name)


def prune_networks(runtime: "Runtime", filters: dict[str, list[str]]) -> list[str]:
    """`network prune`: the networks no container uses, never the default one
    (`until` and `label!` as the other prunes take them, for `system prune`)."""
    from ..formats.timestamps import parse_time
    from ..storage.image_prune import prune_matcher

    keys = ("until", "label!")
    match = prune_matcher({k: v for k, v in filters.items() if k in keys}, keys)
    used = {name for c in runtime.containers() if uses_networks(c) for name in network_names(c)}
    pruned = []
    for network in list_networks(runtime, {k: v for k, v in filters.items() if k not in keys}):
        created = parse_time(network.created) if network.created else 0.0
        if network.name != runtime.config.default_network and network.name not in used and \
                match(created, network.labels):
            remove_network(runtime, network.name)
            pruned.append(network.name)
    return pruned


def connect(container: "Container", name: str, static_ips: list[str] = (), static_mac: str = "",
            aliases: list[str] = ()) -> None:
    """Add a network to the container; a running one is connected at once."""
    container.batch(lambda c: _connect(c, name, static_ips, static_mac, aliases))


def _connect(container: "Container", name: str, static_ips, static_mac, aliases) -> None:
    import msgspec

    from ..define import InvalidArgument
    from ..state.records import NetworkAttachment, NetworkStatus

    network = lookup(container.runtime, name)
    if not uses_networks(container):
        raise InvalidArgument(f"container {container.id} is not in bridge network mode "
                              f"(network mode {container.config.network}): invalid argument")
    joined = network_names(container)
    if network.name in joined:
        raise InvalidArgument(f"container {container.id} is already connected to network {network.name}: "
                              "network is already connected")
    config = msgspec.structs.replace(container.config, networks={
        **{n: container.config.networks.get(n, NetworkAttachment()) for n in joined},
        network.name: NetworkAttachment(static_ips=list(static_ips), static_mac=static_mac,
                                        aliases=list(aliases), interface_name=f"eth{len(joined)}")})
    container.runtime.store.rewrite_config(config)
    container.config = config
    if container.state.netns:
        document_ = options(container, [network.name])
        answer = backend(container.runtime).setup(container.state.netns, document_)
        container.state.network_status.update(msgspec.convert(answer, dict[str, NetworkStatus]))
        container.save()


def disconnect(container: "Container", name: str) -> None:
    container.batch(lambda c: _disconnect(c, name))


def _disconnect(container: "Container", name: str) -> None:
    import msgspec

    from ..define import InvalidArgument
    from ..network import ipam

    network = lookup(container.runtime, name)
    joined = network_names(container)
    if not uses_networks(container) or network.name not in joined:
        raise InvalidArgument(f"container {container.id} is not connected to network {network.name}: "
                              "network is not connected")
    if container.state.netns:
        backend(container.runtime).teardown(container.state.netns, options(container, [network.name]))
        container.state.network_status.pop(network.name, None)
        container.save()
    ipam.release(container.runtime.store, container.id, network)
    remaining = {n: a for n, a in container.config.networks.items() if n != network.name}
    mode = container.config.network if remaining else "none"  # no network left: none, as podman
    config = msgspec.structs.replace(container.config, networks=remaining, network=mode)
    container.runtime.store.rewrite_config(config)
    container.config = config


def reload(container: "Container") -> None:
    """Tear down and set up again a running container's networks (firewall
    rules flushed by hand come back), keeping its addresses."""
    def again(c: "Container") -> None:
        import msgspec

        from ..state.records import NetworkStatus

        if not c.state.netns:
            return
        chosen, document_ = backend(c.runtime), options(c)
        try:
            chosen.teardown(c.state.netns, document_)
        except HuskError:
            pass  # what was flushed cannot be torn down; setting up is what matters
        c.state.network_status = msgspec.convert(chosen.setup(c.state.netns, document_),
                                                 dict[str, NetworkStatus])
        c.save()
    container.batch(again)


# -- what inspect and ps show -----------------------------------------------------------------
def network_settings(container: "Container", docker_names: bool = False) -> dict:
    """inspect's NetworkSettings, as podman fills it: the first address at the
    top, every network under Networks.  `docker_names`: the default network is
    called `bridge` (what Docker clients know).  The ports module (sockets) is
    imported only for a container with ports: inspect is a hot path."""
    config, st = container.config, container.state
    if config.ports or config.exposed_ports:
        from ..network.ports import docker_ports

        ports = docker_ports(config.ports, config.exposed_ports)
    else:
        ports = {}
    networks = {}
    for name in network_names(container) if uses_networks(container) else []:
        entry = _endpoint(st.network_status.get(name))
        attachment = config.networks.get(name)
        shown = "bridge" if docker_names and name == container.runtime.config.default_network else name
        entry.update({"NetworkID": shown, "DriverOpts": None, "IPAMConfig": None, "Links": None,
                      "Aliases": [config.id[:12], *(attachment.aliases if attachment else [])]})
        networks[shown] = entry
    first = next(iter(networks.values()), _endpoint(None))
    return {"EndpointID": "", "Gateway": first["Gateway"], "IPAddress": first["IPAddress"],
            "IPPrefixLen": first["IPPrefixLen"], "IPv6Gateway": first["IPv6Gateway"],
            "GlobalIPv6Address": first["GlobalIPv6Address"], "GlobalIPv6PrefixLen": first["GlobalIPv6PrefixLen"],
            "MacAddress": first["MacAddress"], "Bridge": "", "SandboxID": "", "HairpinMode": False,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": ports,
            "SandboxKey": st.netns, "Networks": networks}


def _endpoint(status) -> dict:
    """One network's addresses as Docker's EndpointSettings (empty when not connected)."""
    entry = {"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
             "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "MacAddress": ""}
    for interface in ((status.interfaces or {}).values() if status is not None else ()):
        entry["MacAddress"] = entry["MacAddress"] or interface.mac_address
        for address in interface.subnets or []:
            ip, _, prefix = address.ipnet.partition("/")
            v6 = ":" in ip
            keys = ("GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPv6Gateway") if v6 else (
                "IPAddress", "IPPrefixLen", "Gateway")
            if not entry[keys[0]]:
                entry.update({keys[0]: ip, keys[1]: int(prefix or 0), keys[2]: address.gateway or ""})
    return entry
