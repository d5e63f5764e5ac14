"""Rename, top, update and changes (diff), in the Docker API's shapes and the libpod API's.

The same engine calls as `husk rename`, `husk top` and `husk update`
(:meth:`husk.Container.rename`, ``.top``, ``.update``).  Where the two APIs
differ: Docker's top defaults to `ps -ef`'s columns and libpod's to podman
top's; Docker's update body is the HostConfig's resource fields (a 0 means
"unchanged"), libpod's an OCI LinuxResources document with the restart policy
in the query.  A resource field husk does not enforce is refused (400) when
set, never accepted and ignored.
"""

from __future__ import annotations


import msgspec
from aiohttp import web

from ..define import InvalidArgument
from . import blocking
from .responses import json_response, request_container
from .requests import decode_body, integer

routes = web.RouteTableDef()
libpod_routes = web.RouteTableDef()


# -- rename ---------------------------------------------------------------------------------
async def _rename(request: web.Request) -> web.Response:
    name = request.query.get("name", "")
    if not name:
        raise InvalidArgument("a new name is required: ?name=NEW_NAME")
    container = await request_container(request)
    await blocking.run(container.rename, name.removeprefix("/"))  # Docker's names may come with their "/"
    return web.Response(status=204)


routes.post("/containers/{id}/rename")(_rename)
libpod_routes.post("/containers/{id}/rename")(_rename)


# -- top ------------------------------------------------------------------------------------
@routes.get("/containers/{id}/top")
async def top(request: web.Request) -> web.Response:
    """`{"Titles": [...], "Processes": [[...]]}`; `ps_args` as `docker top`
    passes them (default `-ef`, as Docker runs ps)."""
    return await _top(request, [request.query.get("ps_args") or "-ef"])


@libpod_routes.get("/containers/{id}/top")
async def libpod_top(request: web.Request) -> web.Response:
    """podman's: `ps_args` (repeatable) are format descriptors; none: podman top's columns."""
    from .requests import flag

    if flag(request, "stream"):
        raise InvalidArgument("stream=true is not supported: ask again for a new list")
    return await _top(request, request.query.getall("ps_args", []))


async def _top(request: web.Request, descriptors: list[str]) -> web.Response:
    container = await request_container(request)
    titles, rows = await blocking.run(container.top, descriptors)
    return json_response({"Titles": titles, "Processes": rows})


# -- update ---------------------------------------------------------------------------------
class _RestartPolicy(msgspec.Struct, rename="pascal"):
    name: str = ""
    maximum_retry_count: int = 0


class UpdateBody(msgspec.Struct, rename="pascal"):
    """`POST /containers/{id}/update`: Docker's UpdateConfig.  The docker CLI
    sends every field, zero when not given; zero means "leave as it is"."""

    memory: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    pids_limit: int | None = None
    restart_policy: _RestartPolicy | None = None
    # sent by clients, enforced by husk only when zero (unset)
    cpu_period: int = 0
    cpu_quota: int = 0
    cpu_realtime_period: int = 0
    cpu_realtime_runtime: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    memory_reservation: int = 0
    memory_swap: int = 0
    kernel_memory: int = 0
    blkio_weight: int = 0


_UNSUPPORTED = frozenset({"cpu_period", "cpu_quota", "cpu_realtime_period", "cpu_realtime_runtime", "cpuset_cpus",
                          "cpuset_mems", "memory_reservation", "memory_swap", "kernel_memory", "blkio_weight"})


def restart_policy_value(name: str, retries: int) -> str | None:
    """The `--restart` string for an API's policy name and retry count (None: unchanged)."""
    if not name:
        if retries:
            raise InvalidArgument("a restart retry count needs a restart policy name")
        return None
    if retries < 0:
        raise InvalidArgument(f"invalid restart retry count {retries}: must be 0 or more")
    if retries and name != "on-failure":
        raise InvalidArgument(f"maximum retry count cannot be used with restart policy '{name}'")
    return f"{name}:{retries}" if retries else name


@routes.post("/containers/{id}/update")
async def update(request: web.Request) -> web.Response:
    body = await decode_body(request, UpdateBody)
    for field in msgspec.structs.fields(UpdateBody):
        if field.name in _UNSUPPORTED and getattr(body, field.name):
            raise InvalidArgument(f"{field.encode_name} is not supported by husk: "
                                  "use Memory, NanoCpus, CpuShares, PidsLimit")
    for field, value in (("Memory", body.memory), ("NanoCpus", body.nano_cpus), ("CpuShares", body.cpu_shares)):
        if value < 0:
            raise InvalidArgument(f"invalid {field} {value}: must be 0 or more")
    policy = body.restart_policy
    kwargs = {"memory": body.memory or None, "nano_cpus": body.nano_cpus or None,
              "cpu_shares": body.cpu_shares or None, "pids_limit": body.pids_limit,
              "restart_policy": restart_policy_value(policy.name, policy.maximum_retry_count) if policy else None}
    container = await request_container(request)
    await blocking.run(container.update, **kwargs)
    return json_response({"Warnings": []})


class _Limit(msgspec.Struct, forbid_unknown_fields=True):
    limit: int | None = None


class _Cpu(msgspec.Struct, forbid_unknown_fields=True):
    shares: int | None = None
    quota: int | None = None
    period: int | None = None


class LinuxResources(msgspec.Struct, forbid_unknown_fields=True):
    """libpod's update body: the parts of an OCI LinuxResources husk enforces
    (another part is an unknown field: a 400 naming it)."""

    memory: _Limit | None = None
    cpu: _Cpu | None = None
    pids: _Limit | None = None


def resource_arguments(body: LinuxResources) -> dict:
    """The engine's keyword arguments (:func:`husk.engine.resources.limits`') for a
    LinuxResources document: libpod's update body and its create body's
    `resource_limits`.  -1 is "no limit", as in the OCI spec."""
    from ..engine import resources

    kwargs: dict = {}
    if body.memory is not None and body.memory.limit is not None:
        kwargs["memory"] = 0 if body.memory.limit == -1 else resources.check_memory(body.memory.limit)
    if body.pids is not None and body.pids.limit is not None:
        kwargs["pids_limit"] = body.pids.limit
    if body.cpu is not None:
        if body.cpu.shares is not None:
            kwargs["cpu_shares"] = body.cpu.shares
        if body.cpu.quota is not None:
            period = body.cpu.period or resources.CPU_PERIOD
            if period <= 0:
                raise InvalidArgument(f"invalid cpu period {period}: must be more than 0")
            kwargs["nano_cpus"] = 0 if body.cpu.quota == -1 else body.cpu.quota * 1_000_000_000 // period
        elif body.cpu.period is not None:
            raise InvalidArgument("a cpu period without a quota: give both")
    return kwargs


@libpod_routes.post("/containers/{id}/update")
async def libpod_update(request: web.Request) -> web.Response:
    """podman's: the resources in the body (absent: unchanged), the restart
    policy in `restartPolicy` and `restartRetries`; answers 201 with the id."""
    body = await decode_body(request, LinuxResources)
    retries = integer(request, "restartRetries", 0)
    restart = restart_policy_value(request.query.get("restartPolicy", ""), retries)
    container = await request_container(request)
    await blocking.run(container.update, restart_policy=restart, **resource_arguments(body))
    return json_response(container.id, status=201)


# -- changes (diff) -------------------------------------------------------------------------
#: the API's change kinds (Docker's and libpod's: 0 changed, 1 added, 2 deleted)
CHANGE_KINDS = {"C": 0, "A": 1, "D": 2}


async def _changes(request: web.Request, image: bool) -> web.Response:
    from ..engine.commit import container_changes, image_changes
    from .responses import request_runtime

    name = request.match_info["name" if image else "id"]
    found = await blocking.run(image_changes if image else container_changes, request_runtime(request), name)
    return json_response([{"Path": path, "Kind": CHANGE_KINDS[kind]} for kind, path in found])


@routes.get("/containers/{id}/changes")
@libpod_routes.get("/containers/{id}/changes")
async def container_changes(request: web.Request) -> web.Response:
    return await _changes(request, image=False)


@libpod_routes.get("/images/{name:.+}/changes")
async def image_changes(request: web.Request) -> web.Response:
    return await _changes(request, image=True)
