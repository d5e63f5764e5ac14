"""Network routes: Docker's /networks (list, inspect, create, connect,
disconnect, delete, prune), where the default network is called `bridge` as
Docker clients expect, and libpod's /libpod/networks, in podman's documents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from ..define import InvalidArgument
from . import blocking
from .requests import EndpointIPAMConfigBody, EndpointSettingsBody, decode_body, flag
from .responses import json_response, request_runtime

if TYPE_CHECKING:
    from ..engine.runtime import Runtime
    from ..network.networks import Network

routes = web.RouteTableDef()
libpod_routes = web.RouteTableDef()
DOCKER_DEFAULT = "bridge"


class IPAMConfigBody(msgspec.Struct, rename="pascal"):
    """Docker clients send null for what they leave unset."""

    subnet: str | None = None
    gateway: str | None = None
    i_p_range: str | None = msgspec.field(default=None, name="IPRange")


class IPAMBody(msgspec.Struct, rename="pascal"):
    driver: str | None = None
    config: list[IPAMConfigBody] | None = None


class NetworkCreateBody(msgspec.Struct, rename="pascal"):
    name: str = ""
    driver: str | None = None
    internal: bool | None = None
    enable_i_pv6: bool | None = msgspec.field(default=None, name="EnableIPv6")
    i_p_a_m: IPAMBody | None = msgspec.field(default=None, name="IPAM")
    options: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    check_duplicate: bool = False


class ConnectBody(msgspec.Struct, rename="pascal"):
    container: str = ""
    endpoint_config: EndpointSettingsBody | None = None
    force: bool = False


def husk_name(runtime: "Runtime", name: str) -> str:
    """Docker's `bridge` (and `default`) is husk's default network."""
    return runtime.config.default_network if name in (DOCKER_DEFAULT, "default") else name


def _docker_network(runtime: "Runtime", network: "Network", containers: bool) -> dict[str, Any]:
    from ..engine import networking

    name = DOCKER_DEFAULT if network.name == runtime.config.default_network else network.name
    document = {
        "Name": name, "Id": network.id, "Created": network.created, "Scope": "local", "Driver": network.driver,
        "EnableIPv6": network.ipv6_enabled,
        "IPAM": {"Driver": "default", "Options": {},
                 "Config": [{"Subnet": s.subnet, **({"Gateway": s.gateway} if s.gateway else {})}
                            for s in network.subnets]},
        "Internal": network.internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
        "ConfigOnly": False, "Containers": {}, "Options": dict(network.options), "Labels": dict(network.labels)}
    if containers:
        for container in networking.containers_on(runtime, network):
            status = container.state.network_status.get(network.name)
            for interface in ((status.interfaces or {}).values() if status else ()):
                addresses = [a.ipnet for a in interface.subnets or []]
                document["Containers"][container.id] = {
                    "Name": container.name, "EndpointID": "", "MacAddress": interface.mac_address,
                    "IPv4Address": next((a for a in addresses if ":" not in a), ""),
                    "IPv6Address": next((a for a in addresses if ":" in a), "")}
    return document


def _create_settings(body: NetworkCreateBody) -> dict[str, Any]:
    configs = (body.i_p_a_m.config if body.i_p_a_m else None) or []
    return {"driver": body.driver or "bridge", "internal": bool(body.internal), "ipv6": bool(body.enable_i_pv6),
            "subnets": [c.subnet for c in configs if c.subnet],
            "gateways": [c.gateway for c in configs if c.subnet and c.gateway],
            "ip_ranges": [c.i_p_range for c in configs if c.subnet and c.i_p_range],
            "options": dict(body.options or {}), "labels": dict(body.labels or {})}


def _filters(request: web.Request) -> dict[str, list[str]]:
    import json

    raw = request.query.get("filters", "")
    if not raw:
        return {}
    parsed = json.loads(raw)
    # Docker sends {"key": {"value": true}} or {"key": ["value"]}
    return {k: list(v) if isinstance(v, (list, dict)) else [v] for k, v in parsed.items()
            if k in ("name", "id", "driver", "label")}


# -- Docker -------------------------------------------------------------------------------------
@routes.get("/networks")
async def list_networks(request: web.Request) -> web.Response:
    from ..engine import networking

    runtime = request_runtime(request)

    def answer():
        return [_docker_network(runtime, n, containers=False)
                for n in networking.list_networks(runtime, _filters(request))]
    return json_response(await blocking.run(answer))


@routes.get("/networks/{name}")
async def inspect_network(request: web.Request) -> web.Response:
    from ..engine import networking

    runtime = request_runtime(request)

    def answer():
        return _docker_network(runtime, networking.lookup(runtime, husk_name(runtime, request.match_info["name"])),
                               containers=True)
    return json_response(await blocking.run(answer))


@routes.post("/networks/create")
async def create_network(request: web.Request) -> web.Response:
    from ..engine import networking

    body = await decode_body(request, NetworkCreateBody)
    network = await blocking.run(networking.create_network, request_runtime(request), body.name,
                                 **_create_settings(body))
    return json_response({"Id": network.id, "Warning": ""}, status=201)


@routes.delete("/networks/{name}")
async def remove_network(request: web.Request) -> web.Response:
    from ..engine import networking

    runtime = request_runtime(request)
    await blocking.run(networking.remove_network, runtime, husk_name(runtime, request.match_info["name"]))
    return web.Response(status=204)


@routes.post("/networks/{name}/connect")
async def connect(request: web.Request) -> web.Response:
    from ..engine import networking

    runtime = request_runtime(request)
    body = await decode_body(request, ConnectBody)
    endpoint = body.endpoint_config or EndpointSettingsBody()
    ipam = endpoint.i_p_a_m_config or EndpointIPAMConfigBody()

    def act():
        networking.connect(runtime.container(body.container), husk_name(runtime, request.match_info["name"]),
                           static_ips=[ip for ip in (ipam.i_pv4_address, ipam.i_pv6_address) if ip],
                           static_mac=endpoint.mac_address or "", aliases=list(endpoint.aliases or []))
    await blocking.run(act)
    return web.Response(status=200)


@routes.post("/networks/{name}/disconnect")
async def disconnect(request: web.Request) -> web.Response:
    from ..engine import networking

    runtime = request_runtime(request)
    body = await decode_body(request, ConnectBody)
    await blocking.run(lambda: networking.disconnect(runtime.container(body.container),
                                                     husk_name(runtime, request.match_info["name"])))
    return web.Response(status=200)


@routes.post("/networks/prune")
async def prune(request: web.Request) -> web.Response:
    from ..engine import networking

    pruned = await blocking.run(networking.prune_networks, request_runtime(request), _filters(request))
    return json_response({"NetworksDeleted": pruned})


# -- libpod -------------------------------------------------------------------------------------
@libpod_routes.get("/networks/json")
async def libpod_list(request: web.Request) -> web.Response:
    from ..engine import networking
    from ..network.networks import document

    runtime = request_runtime(request)
    found = await blocking.run(networking.list_networks, runtime, _filters(request))
    return json_response([document(n) for n in found])


@libpod_routes.get("/networks/{name}/json")
@libpod_routes.get("/networks/{name}")  # podman 5's spelling, which podman-py uses
async def libpod_inspect(request: web.Request) -> web.Response:
    from ..engine import networking
    from ..network.networks import document

    network = await blocking.run(networking.lookup, request_runtime(request), request.match_info["name"])
    return json_response(document(network))


@libpod_routes.get("/networks/{name}/exists")
async def libpod_exists(request: web.Request) -> web.Response:
    from ..engine import networking

    await blocking.run(networking.lookup, request_runtime(request), request.match_info["name"])
    return web.Response(status=204)


class LeaseRangeBody(msgspec.Struct):
    start_ip: str = ""
    end_ip: str = ""


class LibpodSubnet(msgspec.Struct):
    subnet: str = ""
    gateway: str = ""
    lease_range: LeaseRangeBody | None = None

    def ip_range(self) -> str:
        """The lease range as `--ip-range` takes it: the network whose hosts it is ("" when none)."""
        import ipaddress

        lease = self.lease_range
        if lease is None or not (lease.start_ip or lease.end_ip):
            return ""
        try:
            start, end = ipaddress.ip_address(lease.start_ip), ipaddress.ip_address(lease.end_ip)
            # husk's client ends the range before the network's last address, podman's on it
            found = [list(ipaddress.summarize_address_range(start - 1, last)) for last in (end + 1, end)]
        except (ValueError, TypeError) as exc:
            raise InvalidArgument(f"invalid lease range {lease.start_ip}-{lease.end_ip}: {exc}") from None
        for networks in found:
            if len(networks) == 1:
                return str(networks[0])
        raise InvalidArgument(f"lease range {lease.start_ip}-{lease.end_ip}: husk takes a range that is the "
                              "hosts of one network (--ip-range CIDR)")


class LibpodCreateBody(msgspec.Struct):
    name: str = ""
    driver: str = "bridge"
    internal: bool = False
    ipv6_enabled: bool = False
    dns_enabled: bool = True
    network_interface: str = ""
    subnets: list[LibpodSubnet] | None = None
    options: dict[str, str] | None = None
    labels: dict[str, str] | None = None


@libpod_routes.post("/networks/create")
async def libpod_create(request: web.Request) -> web.Response:
    from ..engine import networking
    from ..network.networks import document

    body = await decode_body(request, LibpodCreateBody)
    subnets = body.subnets or []
    network = await blocking.run(
        networking.create_network, request_runtime(request), body.name, driver=body.driver,
        internal=body.internal, ipv6=body.ipv6_enabled, dns=body.dns_enabled, interface=body.network_interface,
        subnets=[s.subnet for s in subnets], gateways=[s.gateway for s in subnets if s.gateway],
        ip_ranges=[s.ip_range() for s in subnets],
        options=dict(body.options or {}), labels=dict(body.labels or {}))
    return json_response(document(network))


@libpod_routes.delete("/networks/{name}")
async def libpod_remove(request: web.Request) -> web.Response:
    from ..engine import networking

    name = request.match_info["name"]
    await blocking.run(networking.remove_network, request_runtime(request), name, force=flag(request, "force"))
    return json_response([{"Name": name, "Err": None}])


@libpod_routes.post("/networks/{name}/connect")
async def libpod_connect(request: web.Request) -> web.Response:
    from ..engine import networking

    runtime = request_runtime(request)
    body = await decode_body(request, LibpodConnectBody)
    await blocking.run(lambda: networking.connect(
        runtime.container(body.container), request.match_info["name"], static_ips=list(body.static_ips or []),
        static_mac=body.static_mac, aliases=list(body.aliases or [])))
    return web.Response(status=200)


@libpod_routes.post("/networks/{name}/disconnect")
async def libpod_disconnect(request: web.Request) -> web.Response:
    from ..engine import networking

    runtime = request_runtime(request)
    body = await decode_body(request, ConnectBody)
    await blocking.run(lambda: networking.disconnect(runtime.container(body.container), request.match_info["name"]))
    return web.Response(status=200)


@libpod_routes.post("/networks/prune")
async def libpod_prune(request: web.Request) -> web.Response:
    from ..engine import networking

    pruned = await blocking.run(networking.prune_networks, request_runtime(request), _filters(request))
    return json_response([{"Name": name, "Error": None} for name in pruned])


class LibpodConnectBody(msgspec.Struct):
    """podman's NetworkConnectOptions: the container and, inline, its PerNetworkOptions."""

    container: str = ""
    static_ips: list[str] | None = None
    static_mac: str = ""
    aliases: list[str] | None = None
