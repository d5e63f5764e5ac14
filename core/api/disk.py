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
    from ..formats.timestamps import rfc3339
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
        build_cache = [{"ID": r.id, "Parent": "", "Parents": None, "Type": r.kind, "Description": r.description,
                        "InUse": False, "Shared": False, "Size": r.size, "CreatedAt": rfc3339(r.created),
                        "LastUsedAt": rfc3339(r.created), "UsageCount": 1} for r in cache.records]
        return {"LayersSize": usage.layers_size, "Images": image_rows, "Containers": containers,
                "Volumes": volumes, "BuildCache": build_cache, "BuilderSize": cache.size}

    return json_response(await blocking.run(collect))


@libpod_routes.get("/system/df")
async def libpod_df(request: web.Request) -> web.Response:
    """podman's SystemDfReport (what `podman system df -v` prints)."""
    from ..formats.timestamps import rfc3339
    from ..presentation.ps import command_args

    def collect() -> dict:
        usage = _usage(request)
        images = []
        for entry in usage.images:
            for name in entry.image.names or ["<none>:<none>"]:
                repository, tag = (name.partition("@")[0], "<none>") if "@" in name else name.rpartition(":")[::2]
                images.append({"Repository": repository, "Tag": tag, "ImageID": entry.image.id,
                               "Created": rfc3339(entry.image.created), "Size": entry.size,
                               "SharedSize": entry.shared, "UniqueSize": entry.unique,
                               "Containers": entry.containers})
        containers = [{"ContainerID": e.container.id, "Image": e.container.config.image_id,
                       "Command": command_args(e.container, None),
                       "LocalVolumes": sum(1 for m in e.container.config.mounts if m.type == "volume"),
                       "Size": e.size_rootfs, "RWSize": e.size_rw, "Created": rfc3339(e.container.config.created),
                       "Status": e.container.state.state.value, "Names": e.container.name}
                      for e in usage.containers]
        volumes = [{"VolumeName": e.volume.name, "Links": e.links, "Size": e.size,
                    "ReclaimableSize": 0 if e.links else e.size} for e in usage.volumes]
        return {"ImagesSize": usage.layers_size, "Images": images, "Containers": containers, "Volumes": volumes}

    return json_response(await blocking.run(collect))
