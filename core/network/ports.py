"""Published ports: `-p` as users write it, and as ps, port and inspect show it.

``-p [ip:][hostPort:]containerPort[/tcp|udp|sctp]``, where either port may be a
range (``8000-8009:80-89``); an IPv6 host address goes in brackets.  No host
port means a free one chosen at create (podman's `-p 80`).
"""

from __future__ import annotations

from ..define import InvalidArgument
from ..state.records import PortMapping

PROTOCOLS = ("tcp", "udp", "sctp")


def parse_publish(spec: str, assign: bool = True) -> list[PortMapping]:
    """One `-p` value as port mappings: random host ports filled in, or (`assign` false: a remote
    client's, whose service must pick them on its own host) left 0."""
    text, _, protocols = spec.partition("/")
    protocols = protocols or "tcp"
    for protocol in protocols.split(","):
        if protocol not in PROTOCOLS:
            raise InvalidArgument(f'invalid protocol "{protocol}" in "{spec}": must be tcp, udp or sctp')
    host_ip = ""
    if text.startswith("["):
        host_ip, sep, text = text[1:].partition("]")
        if not sep or not text.startswith(":"):
            raise InvalidArgument(f'invalid IP address in "{spec}"')
        text = text[1:]
        parts = text.split(":")
    else:
        parts = text.split(":")
        if len(parts) == 3:
            host_ip = parts.pop(0)
    if len(parts) > 2 or not parts[-1]:
        raise InvalidArgument(f'invalid port format "{spec}"')
    if host_ip:
        _check_ip(host_ip, spec)
    container_first, count = _port_range(parts[-1], spec)
    host_first = 0
    if len(parts) == 2 and parts[0]:
        host_first, host_count = _port_range(parts[0], spec)
        if host_count != count:
            raise InvalidArgument(f'host and container port ranges must be the same length in "{spec}"')
    mappings = []
    for protocol in protocols.split(","):
        port = host_first or (free_port(host_ip, protocol) if assign else 0)
        if not host_first and count > 1 and assign:
            mappings += [PortMapping(container_port=container_first + i, host_port=free_port(host_ip, protocol),
                                     host_ip=host_ip, protocol=protocol) for i in range(count)]
            continue
        mappings.append(PortMapping(container_port=container_first, host_port=port, host_ip=host_ip,
                                    protocol=protocol, range=count))
    return mappings


def libpod_mapping(container_port: int, host_port: int = 0, host_ip: str = "", protocol: str = "",
                   count: int = 0) -> list[PortMapping]:
    """One of the libpod API's `portmappings` (containers' and pods'): a host
    port of 0 is a free one, as with `-p PORT`."""
    protocol = protocol or "tcp"
    if host_port:
        return [PortMapping(container_port=container_port, host_port=host_port, host_ip=host_ip, protocol=protocol,
                            range=count or 1)]
    address = f"[{host_ip}]" if ":" in host_ip else host_ip
    span = f"-{container_port + count - 1}" if count > 1 else ""
    return parse_publish(f"{address}::{container_port}{span}/{protocol}")


def publish_all(exposed: list[str], mappings: list[PortMapping]) -> list[PortMapping]:
    """`-P`: every exposed port ("80/tcp") that no `-p` publishes, on a free host port."""
    published = {(port, protocol) for port, protocol, _, _ in each_port(mappings)}
    found = []
    for key in exposed:
        port, _, protocol = key.partition("/")
        if (int(port), protocol) not in published:
            found.append(PortMapping(container_port=int(port), host_port=free_port("", protocol), protocol=protocol))
    return found


def _check_ip(ip: str, spec: str) -> None:
    import ipaddress

    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidArgument(f'invalid IP address "{ip}" in "{spec}"') from None


def _port_range(text: str, spec: str) -> tuple[int, int]:
    from ..formats.exposed import port_range

    return port_range(text, f'"{spec}"')


def check_mapping(mapping: PortMapping) -> PortMapping:
    """Refuse a port mapping that `-p` could not have made (a checkpoint archive's, say)."""
    if mapping.protocol not in PROTOCOLS:
        raise InvalidArgument(f'invalid protocol "{mapping.protocol}": must be tcp, udp or sctp')
    if mapping.host_ip:
        _check_ip(mapping.host_ip, mapping.host_ip)
    for first in (mapping.container_port, mapping.host_port):
        if not (1 <= first and mapping.range >= 1 and first + mapping.range - 1 <= 65535):
            raise InvalidArgument(f"invalid port {first} (range {mapping.range}): ports are 1-65535")
    return mapping


def free_port(host_ip: str = "", protocol: str = "tcp") -> int:
    """A port the kernel says is free now (podman's choice of a random host port)."""
    import socket  # here, not at the top: create and ps import this module for -p's parser (socket is 1.5 ms)

    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    with socket.socket(family, kind) as probe:
        probe.bind((host_ip or "", 0))
        return probe.getsockname()[1]


def check_free(mappings: list[PortMapping]) -> None:
    """Refuse a host port that something on the host holds already, as podman
    does at start (it binds each one)."""
    import socket

    for mapping in mappings:
        for offset in range(mapping.range):
            port = mapping.host_port + offset
            kind = socket.SOCK_DGRAM if mapping.protocol == "udp" else socket.SOCK_STREAM
            family = socket.AF_INET6 if ":" in mapping.host_ip else socket.AF_INET
            if mapping.protocol == "sctp":
                continue
            with socket.socket(family, kind) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((mapping.host_ip or "", port))
                except OSError as exc:
                    family_digit = "6" if family == socket.AF_INET6 else "4"
                    raise InvalidArgument(
                        f"cannot listen on the {mapping.protocol.upper()} port: listen {mapping.protocol}"
                        f"{family_digit} {mapping.host_ip}:{port}: bind: {(exc.strerror or str(exc)).lower()}"
                    ) from None


def each_port(mappings: list[PortMapping]):
    """(container port, protocol, host ip, host port) for every port of every mapping."""
    for m in mappings:
        for i in range(m.range):
            yield m.container_port + i, m.protocol, m.host_ip, m.host_port + i


def ps_text(mappings: list[PortMapping]) -> str:
    """podman ps's PORTS: ``0.0.0.0:8080->80/tcp, 127.0.0.1:9000-9001->90-91/udp``."""
    parts = []
    for m in mappings:
        host = m.host_ip or "0.0.0.0"
        if m.range > 1:
            parts.append(f"{host}:{m.host_port}-{m.host_port + m.range - 1}->"
                         f"{m.container_port}-{m.container_port + m.range - 1}/{m.protocol}")
        else:
            parts.append(f"{host}:{m.host_port}->{m.container_port}/{m.protocol}")
    return ", ".join(parts)


def docker_ports(mappings: list[PortMapping], exposed: list[str] = ()) -> dict[str, list[dict[str, str]] | None]:
    """Docker's NetworkSettings.Ports: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]};
    an `exposed` port that nothing publishes is null, as podman and Docker show it."""
    ports: dict[str, list[dict[str, str]] | None] = {key: None for key in exposed}
    for container_port, protocol, host_ip, host_port in each_port(mappings):
        ports[f"{container_port}/{protocol}"] = (ports.get(f"{container_port}/{protocol}") or []) + [
            {"HostIp": host_ip or "0.0.0.0", "HostPort": str(host_port)}]
    return ports
