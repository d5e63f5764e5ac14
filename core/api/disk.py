"""Disk usage: Docker's `GET /system/df` and libpod's `GET /libpod/system/df`
(sizes from husk.engine.disk_usage, as `husk system df` shows them)."""

from __future__ import annotations

import time

from aiohttp import web

from . import blocking, documents
from .responses import json_response, request_runtime

routes = web.RouteTableDef()
libpod_routes = web.RouteTableDef()


def _usage(request: web.Request):
    from ..engine.disk_usage import disk_usage

    return disk_usage(request_runtime(request))


@routes.get("/system/df")
async def docker_df(request: web.Request) -> web.Response:
    """LayersSize (every layer once), Images, Containers (with SizeRw and SizeRootFs),
    Volumes (with UsageData), BuildCache (husk.build.usage: the entries, none in use)."""
    from ..build.usage import build_cache_usage
    from ..presentation.disk import cache_documents
    from ..presentation.volumes import docker_document

    runtime = request_runtime(request)

    def collect() -> dict:
        usage = _usage(request)
        images = {entry.image.id: entry.image for entry in usage.images}
        now = time.time()
        image_rows = []
        for entry in usage.images:
            row = documents.image_summary(entry.image, entry.containers)
            row.update(Size=entry.size, SharedSize=entry.shared, VirtualSize=entry.size)
            image_rows.append(row)
        containers = []
        for entry in usage.containers:
            row = documents.container_summary(entry.container, images.get(entry.container.config.image_id), now)
            row.update(SizeRw=entry.size_rw, SizeRootFs=entry.size_rootfs)
            containers.append(row)
        volumes = [{**docker_document(runtime, entry.volume), "UsageData": {"Size": entry.size,
                                                                             "RefCount": entry.links}}
                   for entry in usage.volumes]
        cache = build_cache_usage(runtime)
        return {"LayersSize": usage.layers_size, "Images": image_rows, "Containers": containers,
                "Volumes": volumes, "BuildCache": cache_documents(cache), "BuilderSize": cache.size}

    return json_response(await blocking.run(collect))


@libpod_routes.get("/system/df")
async def libpod_df(request: web.Request) -> web.Response:
    """podman's SystemDfReport (what `podman system df -v` prints), with husk's build cache
    (husk.presentation.disk)."""
    from ..build.usage import build_cache_usage
    from ..presentation.disk import df_report

    runtime = request_runtime(request)
    return json_response(await blocking.run(lambda: df_report(runtime, build_cache_usage(runtime))))


@libpod_routes.post("/system/prune")
async def libpod_prune(request: web.Request) -> web.Response:
    """podman's SystemPruneReport (`system prune` remotely, podman's client too): what `husk
    system prune` removes, the build cache included (husk.presentation.disk)."""
    from ..build.usage import prune_build_cache
    from ..presentation.disk import prune_report
    from .requests import filters, flag

    runtime, all_, volumes, wanted = request_runtime(request), flag(request, "all"), flag(request, "volumes"), \
        filters(request)
    return json_response(await blocking.run(prune_report, runtime, all_, wanted, volumes, prune_build_cache))
