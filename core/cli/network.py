"""Network verbs: network create, ls, inspect, rm, prune, exists, connect,
disconnect, reload; and `port`.  Output and exit codes are podman 4.3's."""

from __future__ import annotations

import json
import sys

import click

from ..define import HuskError, NoSuchNetwork
from .common import CONTEXT
from .inspected import NETWORK_GO_NAMES, NETWORK_MAP_FIELDS, network_document

NETWORKS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}"
NETWORKS_HEADERS = {"ID": "NETWORK ID"}


def _key_values(values, what: str) -> dict[str, str]:
    from .options import parse_labels

    return parse_labels(values) if what == "label" else dict(v.partition("=")[::2] for v in values)


@click.command(context_settings=CONTEXT)
@click.option("-d", "--driver", default="bridge", help="bridge or macvlan.")
@click.option("--subnet", multiple=True, help="Subnet in CIDR form.")
@click.option("--gateway", multiple=True, help="Gateway of the subnet.")
@click.option("--ip-range", multiple=True, help="Allocate addresses from this range of the subnet.")
@click.option("--internal", is_flag=True, help="No route out of the network.")
@click.option("--ipv6", is_flag=True, help="An IPv6 network.")
@click.option("--disable-dns", is_flag=True, help="No DNS (aardvark-dns) on the network.")
@click.option("--interface-name", default="", help="Name of the bridge on the host.")
@click.option("-o", "--opt", multiple=True, help="Driver option (key=value).")
@click.option("--label", multiple=True, help="Label (key=value).")
@click.argument("name", required=False, default="")
@click.pass_obj
def create(session, driver, subnet, gateway, ip_range, internal, ipv6, disable_dns, interface_name, opt, label,
           name):
    """Create a network; prints its name."""
    from ..engine import networking

    network = networking.create_network(
        session.runtime, name, driver=driver, subnets=list(subnet), gateways=list(gateway),
        ip_ranges=list(ip_range), internal=internal, ipv6=ipv6, dns=not disable_dns,
        options=_key_values(opt, "opt"), labels=_key_values(label, "label"), interface=interface_name)
    click.echo(network.name)


@click.command("ls", context_settings=CONTEXT)
@click.option("-f", "--filter", "filters", multiple=True, help="name=, id=, driver=, label=.")
@click.option("--format", "format_", default="", help="Go template, `table ...` or json.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the names.")
@click.option("--noheading", "no_heading", is_flag=True, help="Omit the table header.")
@click.option("--no-trunc", is_flag=True, help="Full ids.")
@click.pass_obj
def ls(session, filters, format_, quiet, no_heading, no_trunc):
    """List networks."""
    from ..engine import networking
    from ..network.networks import document

    found = networking.list_networks(session.runtime, _filters(filters))
    print_networks([document(n) for n in found], format_, quiet, not no_heading, no_trunc)


def print_networks(documents: list[dict], format_: str, quiet: bool, heading: bool, no_trunc: bool) -> None:
    """`network ls` of podman's network documents (this host's or a service's)."""
    from ..formats.gofmt import GoStruct
    from .listing import print_listing

    def row(doc: dict) -> GoStruct:
        return GoStruct({"ID": doc["id"] if no_trunc else doc["id"][:12], "Name": doc["name"], "Driver": doc["driver"],
                         "Labels": doc.get("labels") or {}, "Options": doc.get("options") or {},
                         "Internal": doc["internal"], "IPv6Enabled": doc["ipv6_enabled"],
                         "DNSEnabled": doc["dns_enabled"], "NetworkInterface": doc["network_interface"],
                         "Created": doc["created"]}, "types.Network")

    print_listing(documents, format_, quiet, heading, NETWORKS_TABLE, NETWORKS_HEADERS, row,
                  lambda doc: doc["name"], lambda docs: json.dumps(docs, indent=2))


def _filters(values) -> dict[str, list[str]]:
    from ..define import InvalidArgument

    parsed: dict[str, list[str]] = {}
    for value in values:
        key, sep, wanted = value.partition("=")
        if not sep or key not in ("name", "id", "driver", "label"):
            raise InvalidArgument(f"invalid filter {value!r}")
        parsed.setdefault(key, []).append(wanted)
    return parsed


@click.command(context_settings=CONTEXT)
@click.option("-f", "--format", "format_", default="", help="Go template.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def inspect(session, format_, names):
    """Show networks as podman's JSON documents."""
    from .listing import print_inspected

    print_inspected(names, lambda name: network_document(session.runtime, name), format_, "types.Network",
                    "inspecting object: ", indent=5, map_fields=NETWORK_MAP_FIELDS, go_names=NETWORK_GO_NAMES)


@click.command(context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Remove the containers on the network too.")
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds to wait before killing them.")
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def rm(session, force, timeout, names):
    """Remove networks; prints each name removed."""
    from ..engine import networking

    code = 0
    for name in names:
        try:
            networking.remove_network(session.runtime, name, force=force, timeout=timeout)
        except NoSuchNetwork as exc:
            print(f"Error: {exc}", file=sys.stderr)
            code = 1
            continue
        except HuskError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            code = exc.exit_code
            continue
        click.echo(name)
    raise SystemExit(code)


@click.command(context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.option("--filter", "filters", multiple=True, help="label=.")
@click.pass_obj
def prune(session, force, filters):
    """Remove the networks no container uses (never the default one)."""
    from ..engine import networking

    if not force and not click.confirm("WARNING! This will remove all networks not used by at least one "
                                       "container.\nAre you sure you want to continue?", default=False):
        return
    for name in networking.prune_networks(session.runtime, _filters(filters)):
        click.echo(name)


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.pass_obj
def exists(session, name):
    """Exit 0 when the network exists, 1 when it does not."""
    from ..engine import networking

    try:
        networking.lookup(session.runtime, name)
    except NoSuchNetwork:
        raise SystemExit(1) from None
    raise SystemExit(0)


@click.command(context_settings=CONTEXT)
@click.option("--ip", default="", help="Static IPv4 address on the network.")
@click.option("--ip6", default="", help="Static IPv6 address on the network.")
@click.option("--mac-address", default="", help="Static MAC address.")
@click.option("--alias", multiple=True, help="DNS name of the container on the network.")
@click.argument("network")
@click.argument("container")
@click.pass_obj
def connect(session, ip, ip6, mac_address, alias, network, container):
    """Connect a container to a network (a running one at once)."""
    from ..engine import networking

    networking.connect(session.runtime.container(container), network,
                       static_ips=[a for a in (ip, ip6) if a], static_mac=mac_address, aliases=list(alias))


@click.command(context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Accepted for podman compatibility.")
@click.argument("network")
@click.argument("container")
@click.pass_obj
def disconnect(session, force, network, container):
    """Disconnect a container from a network."""
    from ..engine import networking

    networking.disconnect(session.runtime.container(container), network)


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Every running container.")
@click.argument("names", nargs=-1)
@click.pass_obj
def reload(session, all_, names):
    """Set the networks of running containers up again (after a firewall flush); prints their ids."""
    from ..engine import networking
    from .common import names_or_all

    code = 0
    for name in names_or_all(session, names, all_, states=("running",)):
        try:
            container = session.runtime.container(name)
            networking.reload(container)
        except HuskError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            code = exc.exit_code
            continue
        click.echo(container.id)
    raise SystemExit(code)


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Every container's ports.")
@click.option("-l", "--latest", is_flag=True, hidden=True)
@click.argument("container", required=False)
@click.argument("private_port", required=False)
@click.pass_obj
def port(session, all_, latest, container, private_port):
    """List a container's published ports: `80/tcp -> 0.0.0.0:8080`."""
    from ..network.ports import each_port

    if not all_ and not container:
        raise click.UsageError("you must supply a running container name or id")
    containers = session.runtime.containers() if all_ else [session.runtime.container(container)]
    print_ports([(target.id, list(each_port(target.config.ports))) for target in containers], all_, private_port)


def print_ports(containers: list[tuple[str, list]], all_: bool, private_port: str | None) -> None:
    """`port`'s lines, local and remote alike: `containers` are (id, [(container port, protocol,
    host IP, host port)]); with `all_` each one that publishes is named first; with
    `private_port` (`80`, `80/tcp`) only its host addresses."""
    want_port, _, want_proto = (private_port or "").partition("/")
    for ident, ports in containers:
        if all_ and not ports:
            continue
        if all_:
            click.echo(ident)
        for container_port, protocol, host_ip, host_port in ports:
            if private_port and (str(container_port) != want_port or (want_proto and want_proto != protocol)):
                continue
            host = f"{host_ip or '0.0.0.0'}:{host_port}"
            click.echo(host if private_port else f"{container_port}/{protocol} -> {host}")


def register(group: click.Group) -> None:
    network_group = click.Group("network", help="Manage networks.", context_settings=CONTEXT)
    for command in (create, ls, inspect, rm, prune, exists, connect, disconnect, reload):
        network_group.add_command(command)
    network_group.add_command(ls, "list")
    group.add_command(network_group)
    group.commands["container"].add_command(port)
    group.add_command(port)
