"""Docker Engine API routes (`/v1.NN/...` and unversioned).

Handlers check their input (see :mod:`husk.api.requests`), call the engine
through :func:`husk.api.blocking.run`, and shape the answer with
:mod:`husk.api.documents`.  Errors are raised as HuskError and answered by
:mod:`husk.api.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
import os
import time

from aiohttp import web

from ..define import HuskError, InvalidArgument, State
from ..formats.environment import split_entry
from ..presentation.filters import container_filter
from . import blocking, documents
from .responses import json_response, request_container, request_runtime
from .requests import CreateBody, console_size, decode_body, filters, flag, integer, string_list, userns_run_options
from .keys import WATCHER

if TYPE_CHECKING:
    from ..engine.container import Container
    from ..engine.runtime import Runtime

routes = web.RouteTableDef()


# -- system ---------------------------------------------------------------------------------
def _ping_headers() -> dict[str, str]:
    return {"Api-Version": documents.API_VERSION, "Docker-Experimental": "false", "Ostype": "linux",
            "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


@routes.get("/_ping")
async def ping(request: web.Request) -> web.Response:
    return web.Response(text="OK", headers=_ping_headers())


@routes.get("/version")
async def version(request: web.Request) -> web.Response:
    return json_response(documents.version())


@routes.get("/info")
async def info(request: web.Request) -> web.Response:
    return json_response(await blocking.run(documents.info, request_runtime(request)))


@routes.get("/events")
async def events(request: web.Request, libpod: bool = False) -> web.StreamResponse:
    """The event stream (Docker's shape; with `libpod`, podman's statuses: see documents.event)."""
    from ..state.events import compile_filters
    from ..formats.timestamps import parse_time, parse_until

    since = request.query.get("since")
    until = request.query.get("until")
    since_t = parse_time(since) if since else None
    until_t = parse_until(until) if until else None
    wanted = _event_filters(filters(request))
    compile_filters(wanted)  # a bad key is a 400, before the stream starts
    log = request_runtime(request).events
    watcher = request.app[WATCHER]
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    # Subscribed before the tail's snapshot: nothing appended in between is missed.
    with watcher.subscribe(os.path.dirname(log.path)) as changes, log.tail(since_t, until_t, wanted) as tail:
        if since_t is not None:  # the stored events: up to the whole log, read in a worker thread
            async for event in blocking.iterate(lambda stop: tail.backlog()):
                await response.write(_event_line(event, libpod))
        while not tail.ended and not watcher.stopped:
            found = tail.new()
            for event in found:
                await response.write(_event_line(event, libpod))
            if not found:
                await changes.wait(tail.seconds_left())
    await response.write_eof()
    return response


def _event_line(event, libpod: bool) -> bytes:
    return json.dumps(documents.event(event, libpod)).encode() + b"\n"


def _event_filters(wanted: dict[str, list[str]]) -> dict[str, list[str]]:
    """Docker's event names in `event=` filters as husk records them (`die` is `died`);
    both names match, so a podman-minded client is not refused."""
    husk_names = {docker: husk for husk, docker in documents.DOCKER_EVENT_ACTIONS.items()}
    return {key: [name for value in values for name in (value, husk_names.get(value)) if name]
            if key.lower() in ("event", "status") else values for key, values in wanted.items()}


# -- containers -----------------------------------------------------------------------------
@routes.post("/containers/create")
async def create(request: web.Request) -> web.Response:
    body = await decode_body(request, CreateBody)
    name = request.query.get("name", "")
    kwargs = _create_arguments(body)
    runtime = request_runtime(request)
    userns = body.host_config.userns_mode if body.host_config is not None else ""

    def make() -> "Container":
        options = userns_run_options(runtime, userns)
        return runtime.create_container(body.image, name=name, run_options=options, **kwargs)

    container = await blocking.run(make)
    return json_response({"Id": container.id, "Warnings": []}, status=201)


def _create_arguments(body: CreateBody) -> dict:
    from ..presentation.mounts import parse_tmpfs, parse_volume

    if not body.image:
        raise InvalidArgument("config cannot be empty in order to create a container: no image given")
    host = body.host_config
    mounts = []
    restart = "no"
    kwargs: dict = {}
    if host is not None:
        mounts += [parse_volume(bind) for bind in host.binds or []]
        mounts += [_docker_mount(mount) for mount in host.mounts or []]
        if host.volume_driver not in ("", "local"):  # the driver of the volumes this create makes
            import msgspec

            mounts = [msgspec.structs.replace(m, options=[*m.options, f"volume-driver={host.volume_driver}"])
                      if m.type == "volume" else m for m in mounts]
        mounts += [parse_tmpfs(f"{path}:{options}" if options else path) for path, options in (host.tmpfs or {}).items()]
        kwargs["volumes_from"] = host.volumes_from or ()
        if host.restart_policy is not None and host.restart_policy.name not in ("", "no"):
            restart = host.restart_policy.name
            if host.restart_policy.name == "on-failure" and host.restart_policy.maximum_retry_count:
                restart += f":{host.restart_policy.maximum_retry_count}"
        kwargs |= {"auto_remove": host.auto_remove, "read_only": host.readonly_rootfs,
                  "privileged": host.privileged, "cap_add": host.cap_add or (), "cap_drop": host.cap_drop or (),
                  "security_opt": host.security_opt or (), "runtime": host.runtime, "console_size": console_size(host.console_size),
                  "resources": _resources(host)}
    taken = {m.destination for m in mounts}  # the SDK lists a bind's target in Config.Volumes too
    mounts += [m for m in map(parse_volume, sorted(body.volumes or {})) if m.destination not in taken]
    for entry in body.env or []:
        split_entry(entry)  # a bad entry is the request's fault (400) before its image is looked up (404)
    kwargs.update(_network_arguments(body))
    if body.healthcheck is not None:
        kwargs["healthcheck"] = body.healthcheck.settings()
    return {"command": string_list(body.cmd), "entrypoint": string_list(body.entrypoint), "env": body.env or (),
            "workdir": body.working_dir, "user": body.user, "hostname": body.hostname,
            "labels": body.labels or {}, "stop_signal": body.stop_signal, "stop_timeout": body.stop_timeout,
            "stdin_open": body.open_stdin, "tty": body.tty, "mounts": mounts, "restart_policy": restart,
            **kwargs}


def _network_arguments(body: CreateBody) -> dict:
    """NetworkMode (`bridge` and `default` are the default network), the
    endpoints' static addresses and aliases, PortBindings, ExposedPorts and
    PublishAllPorts (the image's exposed ports too, as Docker publishes them)."""
    from ..network.ports import parse_publish
    from ..state.records import HostFiles

    host = body.host_config
    mode = host.network_mode if host is not None else ""
    endpoints = (body.networking_config.endpoints_config if body.networking_config else None) or {}
    names = [n for n in endpoints if n not in ("bridge", "default")]
    network = "bridge" if mode in ("", "default", "bridge") else mode
    if names and network == "bridge":
        network = names
    elif network not in ("bridge", "host", "none"):
        network = [network, *[n for n in names if n != network]]
    first = next((e for e in endpoints.values() if e is not None), None)
    ipam = first.i_p_a_m_config if first is not None and first.i_p_a_m_config else None
    ports = []
    for key, bindings in ((host.port_bindings or {}) if host is not None else {}).items():
        port, _, protocol = key.partition("/")
        for binding in bindings or [{}]:
            binding_ip = getattr(binding, "host_ip", None) or ""
            address = f"[{binding_ip}]" if ":" in binding_ip else binding_ip
            host_port = getattr(binding, "host_port", None) or ""
            ports += parse_publish(f"{address}:{host_port}:{port}/{protocol or 'tcp'}")
    host_files = HostFiles(dns_servers=list(host.dns or []), dns_search=list(host.dns_search or []),
                           dns_options=list(host.dns_options or []),
                           add_hosts=list(host.extra_hosts or [])) if host is not None else None
    return {"network": network, "ports": ports, "host_files": host_files, "expose": list(body.exposed_ports or {}),
            "publish_all": host is not None and host.publish_all_ports,
            "static_ips": [ip for ip in (ipam.i_pv4_address, ipam.i_pv6_address) if ip] if ipam else [],
            "static_mac": body.mac_address or (first.mac_address or "" if first is not None else ""),
            "aliases": list(first.aliases or []) if first is not None else []}


def _docker_mount(mount) -> "Mount":
    """HostConfig.Mounts: volume (named or anonymous), bind and tmpfs."""
    from ..presentation.mounts import parse_tmpfs, parse_volume, parse_volume_mount

    if mount.type == "volume":
        fields = {"dst": mount.target, "src": mount.source}
        if mount.read_only:
            fields["ro"] = "true"
        if mount.volume_options is not None and mount.volume_options.no_copy:
            fields["volume-nocopy"] = "true"
        return parse_volume_mount(fields, f"{mount.source}:{mount.target}")
    if mount.type == "bind":
        if not mount.source.startswith("/"):
            raise InvalidArgument(f"invalid mount config for type \"bind\": invalid mount path: {mount.source!r}")
        return parse_volume(f"{mount.source}:{mount.target}" + (":ro" if mount.read_only else ""))
    if mount.type == "tmpfs":
        return parse_tmpfs(mount.target)
    raise InvalidArgument(f"mount type {mount.type!r} is not supported: use volume, bind or tmpfs")


def _resources(host):
    """HostConfig's Memory, NanoCpus, CpuShares and PidsLimit (0: none; no PidsLimit: the default)."""
    from ..engine.resources import limits

    return limits(memory=host.memory, nano_cpus=host.nano_cpus, cpu_shares=host.cpu_shares,
                  pids_limit=host.pids_limit)


@routes.get("/containers/json")
async def list_containers(request: web.Request) -> web.Response:
    all_ = flag(request, "all")
    limit = integer(request, "limit", -1)
    wanted = filters(request)
    match = container_filter(wanted, documents.docker_state)

    def collect():
        runtime = request_runtime(request)
        containers = runtime.containers(errors=[])
        for container in containers:
            container.sync_if_unlocked()
        containers = [c for c in containers if (all_ or wanted or c.state.state in (State.RUNNING, State.PAUSED)) and match(c)]
        containers.sort(key=lambda c: -c.config.created)
        if limit is not None and limit > 0:
            containers = containers[:limit]
        images = {image.id: image for image in runtime.store.images()}
        now = time.time()
        return [_sized(runtime, c, documents.container_summary(c, images.get(c.config.image_id), now), size)
                for c in containers]

    size = flag(request, "size")
    return json_response(await blocking.run(collect))


def _sized(runtime: "Runtime", container: "Container", document: dict, size: bool) -> dict:
    """`document` with SizeRw and SizeRootFs (Docker's `size=true`)."""
    if size:
        from ..engine.disk_usage import container_sizes

        document["SizeRw"], document["SizeRootFs"] = container_sizes(runtime, container)
    return document


@routes.get("/containers/{id}/json")
async def inspect(request: web.Request) -> web.Response:
    def read():
        runtime = request_runtime(request)
        container = runtime.container(request.match_info["id"])
        container.sync_if_unlocked()
        return _sized(runtime, container, documents.container_inspect(container), flag(request, "size"))

    return json_response(await blocking.run(read))


@routes.post("/containers/{id}/start")
async def start(request: web.Request) -> web.Response:
    container = await request_container(request)
    await blocking.run(_start, container)
    return web.Response(status=204)


def _start(container: "Container") -> None:
    """Start; a container with AutoRemove that fails to start is removed, as
    Docker does (`docker run --rm` waits for the removal before it exits)."""
    try:
        container.start()
    except HuskError:
        if container.config.auto_remove:
            try:
                container.remove(force=True, timeout=0)
            except HuskError:
                pass
        raise


@routes.post("/containers/{id}/stop")
async def stop(request: web.Request) -> web.Response:
    timeout = integer(request, "t", integer(request, "timeout"))
    container = await request_container(request)
    await blocking.run(container.stop, timeout)
    return web.Response(status=204)


@routes.post("/containers/{id}/restart")
async def restart(request: web.Request) -> web.Response:
    timeout = integer(request, "t", integer(request, "timeout"))
    container = await request_container(request)
    await blocking.run(container.restart, timeout)
    return web.Response(status=204)


@routes.post("/containers/{id}/kill")
async def kill(request: web.Request) -> web.Response:
    from ..formats.signals import parse_signal

    number = parse_signal(request.query.get("signal") or "SIGKILL")
    container = await request_container(request)
    await blocking.run(container.kill, number)
    return web.Response(status=204)


def container_action(method: str):
    """A handler calling the Container method `method` (no arguments): 204."""
    async def handler(request: web.Request) -> web.Response:
        container = await request_container(request)
        await blocking.run(getattr(container, method))
        return web.Response(status=204)

    handler.__name__ = method
    return handler


pause = routes.post("/containers/{id}/pause")(container_action("pause"))
unpause = routes.post("/containers/{id}/unpause")(container_action("unpause"))


@routes.delete("/containers/{id}")
async def remove(request: web.Request) -> web.Response:
    force, volumes = flag(request, "force"), flag(request, "v")
    container = await request_container(request)
    await blocking.run(container.remove, force=force, timeout=0 if force else None, volumes=volumes)
    return web.Response(status=204)


@routes.post("/containers/{id}/wait")
async def wait(request: web.Request) -> web.StreamResponse:
    """Wait for a condition; the headers go out at once (`docker run` waits for
    them before it sends /start), the body `{"StatusCode": N}` at the end."""
    from .waiting import wait_for

    condition = request.query.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed", "healthy", "unhealthy"):
        raise InvalidArgument(f"invalid condition {condition!r}: use not-running, next-exit, removed, healthy "
                              "or unhealthy")
    since = time.time()
    container = await request_container(request)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    if condition in ("healthy", "unhealthy"):  # husk's extension: the health check's status
        code, error = await blocking.run(container.wait, condition), ""
    else:
        code, error = await wait_for(container, condition, since, request.app[WATCHER])
    document = {"StatusCode": code, "Error": {"Message": error} if error else None}
    await response.write(json.dumps(document).encode() + b"\n")
    await response.write_eof()
    return response


@routes.get("/containers/{id}/logs")
async def logs(request: web.Request) -> web.StreamResponse:
    from .streams import stream_logs

    return await stream_logs(request, await request_container(request))


@routes.post("/containers/{id}/attach")
async def attach(request: web.Request) -> web.StreamResponse:
    from .streams import attach as attach_stream

    return await attach_stream(request, await request_container(request))


@routes.post("/containers/{id}/resize")
async def resize(request: web.Request) -> web.Response:
    rows, cols = integer(request, "h", 0), integer(request, "w", 0)
    container = await request_container(request)
    await blocking.run(container.attach_resize, rows, cols)
    return web.Response(status=200)


# -- images ---------------------------------------------------------------------------------
@routes.get("/images/json")
async def list_images(request: web.Request) -> web.Response:
    rows = await blocking.run(image_summaries, request_runtime(request))
    return json_response([row for _, row in rows])


def image_summaries(runtime: "Runtime") -> list[tuple]:
    """(image, Docker's summary row) newest first, each with the count of its containers."""
    users: dict[str, int] = {}
    for container in runtime.containers(errors=[]):
        users[container.config.image_id] = users.get(container.config.image_id, 0) + 1
    images = sorted(runtime.store.images(), key=lambda image: -image.created)
    return [(image, documents.image_summary(image, users.get(image.id, 0))) for image in images]


@routes.get("/images/{name:.+}/json")
async def inspect_image(request: web.Request) -> web.Response:
    from ..storage.images import resolve_image

    image = await blocking.run(resolve_image, request_runtime(request), request.match_info["name"])
    return json_response(documents.image_inspect(image))


@routes.delete("/images/{name:.+}")
async def remove_image(request: web.Request) -> web.Response:
    from ..storage.images import remove_image as remove

    removal = await blocking.run(remove, request_runtime(request), request.match_info["name"], flag(request, "force"))
    return json_response([{"Untagged": name} for name in removal.untagged] +
                 ([{"Deleted": "sha256:" + removal.image.id}] if removal.deleted else []))


@routes.post("/images/create")
async def create_image(request: web.Request) -> web.StreamResponse:
    """Pull (`fromImage`, see :func:`husk.api.registry.docker_pull`) or import
    (`fromSrc=-`, the tar in the body, often chunked)."""
    from ..storage.images import import_tarball
    from .spool import receive, spool_file

    source = request.query.get("fromSrc")
    if source is None:
        from .registry import docker_pull

        return await docker_pull(request, request.query.get("fromImage", ""), request.query.get("tag", ""))
    if source != "-":
        raise InvalidArgument("only fromSrc=- (the tar in the request body) is supported")
    repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
    reference = f"{repo}:{tag}" if repo and tag else repo
    changes = request.query.getall("changes", [])
    message = request.query.get("message", "")
    with spool_file(request_runtime(request)) as spool:
        await receive(request, spool)
        image = await blocking.run(import_tarball, request_runtime(request), spool, reference, changes, message)
    return json_response({"status": "sha256:" + image.id})
