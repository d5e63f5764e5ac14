"""Volume routes: Docker's `/volumes` and libpod's `/libpod/volumes` (list with
filters, create, inspect, exists, remove with force, prune).  The documents
and filters are the CLI's (:mod:`husk.presentation.volumes`)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from ..presentation.volumes import PRUNE_KEYS, docker_document, podman_document, volume_filter
from . import blocking
from .requests import decode_body, filters, flag, integer
from .responses import json_response, request_runtime

routes = web.RouteTableDef()
libpod_routes = web.RouteTableDef()


class DockerCreateBody(msgspec.Struct, rename="pascal"):
    name: str = ""
    driver: str = "local"
    driver_opts: dict[str, str] | None = None
    labels: dict[str, str] | None = None


class LibpodCreateBody(msgspec.Struct, rename="pascal"):
    name: str = ""
    driver: str = "local"
    options: dict[str, str] | None = None
    label: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    ignore_if_exists: bool = False


def _selected(request: web.Request) -> list:
    runtime = request_runtime(request)
    keep = volume_filter(runtime, filters(request))
    return sorted((v for v in runtime.volumes.list() if keep(v)), key=lambda v: v.name)


def _prune(request: web.Request) -> list:
    runtime = request_runtime(request)
    wanted = filters(request)
    wanted.pop("all", None)  # Docker's "prune named volumes too": husk, like podman, always does
    keep = volume_filter(runtime, wanted, PRUNE_KEYS)
    return runtime.volumes.prune(keep=lambda v: not keep(v))


def _remove(request: web.Request) -> None:
    from ..engine.volume_mounts import remove_volume

    remove_volume(request_runtime(request), request.match_info["name"], force=flag(request, "force"),
                  timeout=integer(request, "timeout"))


# -- Docker -----------------------------------------------------------------------------------
@routes.get("/volumes")
async def docker_list(request: web.Request) -> web.Response:
    volumes = await blocking.run(_selected, request)
    runtime = request_runtime(request)
    return json_response({"Volumes": [docker_document(runtime, v) for v in volumes], "Warnings": []})


@routes.post("/volumes/create")
async def docker_create(request: web.Request) -> web.Response:
    body = await decode_body(request, DockerCreateBody)
    runtime = request_runtime(request)
    volume = await blocking.run(runtime.volumes.create, body.name, driver=body.driver,
                                options=body.driver_opts, labels=body.labels, ignore=True)
    return json_response(docker_document(runtime, volume), status=201)


@routes.get("/volumes/{name}")
async def docker_inspect(request: web.Request) -> web.Response:
    runtime = request_runtime(request)
    volume = await blocking.run(runtime.volumes.get, request.match_info["name"])
    return json_response(docker_document(runtime, volume))


@routes.delete("/volumes/{name}")
async def docker_remove(request: web.Request) -> web.Response:
    """Docker's: with `force`, a volume that is not there is no error (204)."""
    from ..define import NoSuchVolume

    try:
        await blocking.run(_remove, request)
    except NoSuchVolume:
        if not flag(request, "force"):
            raise
    return web.Response(status=204)


@routes.post("/volumes/prune")
async def docker_prune(request: web.Request) -> web.Response:
    removed = await blocking.run(_prune, request)
    return json_response({"VolumesDeleted": [v.name for v in removed] or None, "SpaceReclaimed": 0})


# -- libpod -----------------------------------------------------------------------------------
@libpod_routes.get("/volumes/json")
async def libpod_list(request: web.Request) -> web.Response:
    volumes = await blocking.run(_selected, request)
    runtime = request_runtime(request)
    return json_response([podman_document(runtime, v) for v in volumes])


@libpod_routes.post("/volumes/create")
async def libpod_create(request: web.Request) -> web.Response:
    body = await decode_body(request, LibpodCreateBody)
    runtime = request_runtime(request)
    labels = {**(body.label or {}), **(body.labels or {})}
    volume = await blocking.run(runtime.volumes.create, body.name, driver=body.driver, options=body.options,
                                labels=labels, ignore=body.ignore_if_exists)
    return json_response(podman_document(runtime, volume), status=201)


@libpod_routes.get("/volumes/{name}/json")
async def libpod_inspect(request: web.Request) -> web.Response:
    runtime = request_runtime(request)
    volume = await blocking.run(runtime.volumes.get, request.match_info["name"])
    return json_response(podman_document(runtime, volume))


@libpod_routes.get("/volumes/{name}/exists")
async def libpod_exists(request: web.Request) -> web.Response:
    exists = await blocking.run(request_runtime(request).volumes.exists, request.match_info["name"])
    return web.Response(status=204 if exists else 404)


@libpod_routes.delete("/volumes/{name}")
async def libpod_remove(request: web.Request) -> web.Response:
    await blocking.run(_remove, request)
    return web.Response(status=204)


@libpod_routes.post("/volumes/prune")
async def libpod_prune(request: web.Request) -> web.Response:
    removed = await blocking.run(_prune, request)
    return json_response([{"Id": v.name, "Size": 0} for v in removed])
