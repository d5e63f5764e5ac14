"""libpod's `/pods` routes (podman 4.3's shapes, as podman-py's pods API uses
them): create, list, inspect, exists, start, stop, restart, kill, pause,
unpause, top, remove and prune, over :mod:`husk.engine.pods`; the documents
are the CLI's (:mod:`husk.presentation.pods`).

The verbs over a whole pod answer podman's report `{"Errs": [...], "Id": ...}`:
200 when every container did what was asked, 409 with the errors otherwise;
starting a running pod or stopping a stopped one is 304, as in podman."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from ..define import HuskError
from ..formats.namespaces import to_flag
from . import blocking
from .requests import Namespace, PortMappingBody, decode_body, filters, flag, integer
from .responses import json_response, request_runtime

if TYPE_CHECKING:
    from ..engine.pods import Pod

libpod_routes = web.RouteTableDef()


class PodSpec(msgspec.Struct):
    """podman's PodSpecGenerator, the fields husk's pods have."""

    name: str = ""
    hostname: str = ""
    labels: dict[str, str] | None = None
    no_infra: bool = False
    infra_command: list[str] | None = None
    infra_name: str = ""
    shared_namespaces: list[str] | None = None
    exit_policy: str = ""
    netns: Namespace | None = None
    networks: dict[str, dict] | None = msgspec.field(default=None, name="Networks")
    portmappings: list[PortMappingBody] | None = None
    dns_server: list[str] | None = None
    dns_search: list[str] | None = None
    dns_option: list[str] | None = None
    hostadd: list[str] | None = None
    no_manage_hosts: bool = False
    cgroup_parent: str = ""
    #: an OCI LinuxResources document: memory.limit, cpu.quota and cpu.period are the pod's limits
    resource_limits: dict | None = None


def _create(request: web.Request, spec: PodSpec) -> "Pod":
    from ..engine.pods import create_pod
    from ..network.ports import libpod_mapping
    from ..state.records import HostFiles

    mode = to_flag(spec.netns.nsmode, spec.netns.value) if spec.netns is not None and spec.netns.nsmode else None
    names = list(spec.networks or {})
    network = names if names and mode in (None, "bridge") else mode
    ports = [port for m in spec.portmappings or []
             for port in libpod_mapping(m.container_port, m.host_port, m.host_ip, m.protocol, m.range)]
    host_files = HostFiles(dns_servers=list(spec.dns_server or []), dns_search=list(spec.dns_search or []),
                           dns_options=list(spec.dns_option or []), add_hosts=list(spec.hostadd or []),
                           no_hosts=spec.no_manage_hosts)
    share = ",".join(spec.shared_namespaces) if spec.shared_namespaces is not None else None
    limits = spec.resource_limits or {}
    memory = (limits.get("memory") or {}).get("limit")
    cpu = limits.get("cpu") or {}
    cpus = cpu["quota"] / (cpu.get("period") or 100_000) if cpu.get("quota") else None
    return create_pod(request_runtime(request), spec.name, infra=not spec.no_infra,
                      infra_command=spec.infra_command, infra_name=spec.infra_name, share=share,
                      hostname=spec.hostname, labels=spec.labels, exit_policy=spec.exit_policy or "continue",
                      network=network, ports=ports, host_files=host_files, cgroup_parent=spec.cgroup_parent,
                      memory=memory, cpus=cpus)


def _pod(request: web.Request) -> "Pod":
    from ..engine.pods import get_pod

    return get_pod(request_runtime(request), request.match_info["name"])


async def _report(request: web.Request, operation, unchanged: str = "") -> web.Response:
    """Run `operation(pod)`; podman's report, or 304 when the pod already was
    as asked (its status is `unchanged` before the operation)."""
    def run():
        pod = _pod(request)
        if unchanged and pod.status() == unchanged:
            return pod, None
        try:
            operation(pod)
        except HuskError as exc:
            return pod, exc
        return pod, False
    pod, error = await blocking.run(run)
    if error is None:
        return web.Response(status=304)
    if error:
        return json_response({"Errs": [str(error)], "Id": pod.id}, status=409)
    return json_response({"Errs": [], "Id": pod.id})


@libpod_routes.post("/pods/create")
async def create(request: web.Request) -> web.Response:
    spec = await decode_body(request, PodSpec)
    pod = await blocking.run(_create, request, spec)
    return json_response({"Id": pod.id}, status=201)


@libpod_routes.get("/pods/json")
async def list_pods(request: web.Request) -> web.Response:
    from ..presentation.pods import ps_document, select_pods

    wanted = filters(request)
    entries = await blocking.run(select_pods, request_runtime(request), wanted)
    return json_response([ps_document(pod, containers) for pod, containers in entries])


@libpod_routes.get("/pods/{name}/json")
async def inspect(request: web.Request) -> web.Response:
    from ..presentation.pods import inspect_document

    return json_response(await blocking.run(lambda: inspect_document(_pod(request))))


@libpod_routes.get("/pods/{name}/exists")
async def exists(request: web.Request) -> web.Response:
    from ..define import NoSuchPod

    try:
        await blocking.run(request_runtime(request).store.lookup_pod, request.match_info["name"])
    except NoSuchPod:
        return web.Response(status=404)
    return web.Response(status=204)


@libpod_routes.post("/pods/{name}/start")
async def start(request: web.Request) -> web.Response:
    return await _report(request, lambda pod: pod.start(), unchanged="Running")


@libpod_routes.post("/pods/{name}/stop")
async def stop(request: web.Request) -> web.Response:
    timeout = integer(request, "t")
    return await _report(request, lambda pod: pod.stop(timeout), unchanged="Exited")


@libpod_routes.post("/pods/{name}/restart")
async def restart(request: web.Request) -> web.Response:
    return await _report(request, lambda pod: pod.restart())


@libpod_routes.post("/pods/{name}/kill")
async def kill(request: web.Request) -> web.Response:
    from ..formats.signals import parse_signal

    number = parse_signal(request.query.get("signal") or "SIGKILL")
    return await _report(request, lambda pod: pod.kill(number))


@libpod_routes.post("/pods/{name}/pause")
async def pause(request: web.Request) -> web.Response:
    return await _report(request, lambda pod: pod.pause())


@libpod_routes.post("/pods/{name}/unpause")
async def unpause(request: web.Request) -> web.Response:
    return await _report(request, lambda pod: pod.unpause())


@libpod_routes.get("/pods/{name}/top")
async def top(request: web.Request) -> web.Response:
    descriptors = request.query.get("ps_args", "").replace(",", " ").split()
    titles, rows = await blocking.run(lambda: _pod(request).top(descriptors))
    return json_response({"Processes": rows, "Titles": titles})


@libpod_routes.delete("/pods/{name}")
async def remove(request: web.Request) -> web.Response:
    force, timeout = flag(request, "force"), integer(request, "timeout")

    def run():
        pod = _pod(request)
        pod.remove(force=force, timeout=timeout)
        return pod.id
    return json_response({"Err": None, "Id": await blocking.run(run)})


@libpod_routes.post("/pods/prune")
async def prune(request: web.Request) -> web.Response:
    from ..engine.pods import prune as prune_pods

    removed = await blocking.run(prune_pods, request_runtime(request))
    return json_response([{"Err": None, "Id": pod_id} for pod_id in removed])
