"""The libpod container routes beyond the basics of :mod:`husk.api.libpod`:
restart, pause, unpause, init, attach, resize, checkpoint, restore, prune, events, healthcheck.

Most are the Docker routes' handlers under the libpod prefix, as in podman's
service.  Checkpoint and restore call :meth:`husk.Container.checkpoint`,
:meth:`husk.Container.restore` and :func:`husk.engine.container.restore_imported`
(the husk-criu plugin's work) and answer podman's reports; the exported
archive goes out as the response body, an imported one comes in as the
request body.  Both pass through a spool file under the storage root, because
the plugin reads and writes archives by path (and a checkpoint must finish
before its archive is complete).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os

from aiohttp import web

from ..define import InvalidArgument, State, StateInvalid
from . import blocking, docker
from .responses import json_response, request_container, request_runtime
from .requests import filters, flag
from .spool import receive, send, spool_path

if TYPE_CHECKING:
    from ..engine.container import Container

libpod_routes = web.RouteTableDef()

# podman's service answers these with its Docker-compatible handlers too
libpod_routes.post("/containers/{id}/restart")(docker.restart)
libpod_routes.post("/containers/{id}/pause")(docker.pause)
libpod_routes.post("/containers/{id}/unpause")(docker.unpause)
libpod_routes.post("/containers/{id}/attach")(docker.attach)
libpod_routes.post("/containers/{id}/resize")(docker.resize)


@libpod_routes.post("/containers/{id}/init")
async def init(request: web.Request) -> web.Response:
    """Create the container in the runtime; 304 when it already is (podman's answer)."""
    container = await request_container(request)
    try:
        await blocking.run(container.init)
    except StateInvalid:
        await blocking.run(container.reload)
        if container.state.state in (State.CREATED, State.RUNNING, State.PAUSED):
            return web.Response(status=304)
        raise
    return web.Response(status=204)


@libpod_routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Docker's event stream (podman's libpod events have the same shape);
    `stream=false` answers the events recorded so far (from the start of the
    log unless `since` says otherwise) and ends, as podman's does."""
    if not flag(request, "stream", default=True):
        import time

        query = request.query.copy()
        for key in ("since", "until"):  # podman-remote sends them empty when not given
            if not query.get(key):
                query.pop(key, None)
        query.setdefault("since", "0")
        query.setdefault("until", f"{time.time():.9f}")
        request = request.clone(rel_url=request.rel_url.with_query(query))
    return await docker.events(request, libpod=True)


# -- checkpoint / restore -------------------------------------------------------------------
def _report(container: "Container", options: dict, duration_key: str) -> dict:
    """podman's CheckpointReport / RestoreReport: the id, the runtime's duration
    in microseconds and CRIU's statistics (from the plugin's stats document)."""
    stats = (options.get("stats") or {}).get("container_statistics") or [{}]
    return {"Id": container.id, duration_key: stats[0].get(duration_key, 0),
            "criu_statistics": stats[0].get("criu_statistics")}


@libpod_routes.post("/containers/{id}/checkpoint")
async def checkpoint(request: web.Request) -> web.StreamResponse:
    """Checkpoint; with `export=true` the answer is the checkpoint archive (an
    uncompressed tar, as podman's service sends), else the report."""
    export = flag(request, "export")
    options = {"keep": flag(request, "keep"), "keep_running": flag(request, "leaveRunning"),
               "tcp_established": flag(request, "tcpEstablished"), "ignore_rootfs": flag(request, "ignoreRootFS"),
               "print_stats": flag(request, "printStats"), "file_locks": flag(request, "fileLocks"),
               "ignore_volumes": flag(request, "ignoreVolumes"), "compression": "none", "target_file": ""}
    if options["ignore_rootfs"] and not export:
        raise InvalidArgument("ignoreRootFS can only be used with export")
    if options["ignore_volumes"] and not export:
        raise InvalidArgument("ignoreVolumes can only be used with export")
    container = await request_container(request)
    if not export:
        await blocking.run(container.checkpoint, options)
        return json_response(_report(container, options, "runtime_checkpoint_duration"))
    with spool_path(request_runtime(request), ".checkpoint-") as path:
        options["target_file"] = path
        await blocking.run(container.checkpoint, options)
        with open(path, "rb") as archive:
            return await send(request, archive, {"Content-Length": str(os.fstat(archive.fileno()).st_size)})


def _restore_options(request: web.Request) -> dict:
    return {"keep": flag(request, "keep"), "tcp_established": flag(request, "tcpEstablished"),
            "ignore_rootfs": flag(request, "ignoreRootFS"), "ignore_static_ip": flag(request, "ignoreStaticIP"),
            "ignore_static_mac": flag(request, "ignoreStaticMAC"), "file_locks": flag(request, "fileLocks"),
            "print_stats": flag(request, "printStats"), "ignore_volumes": flag(request, "ignoreVolumes")}


@libpod_routes.post("/containers/{id}/restore")
async def restore(request: web.Request) -> web.Response:
    """Restore the checkpointed container; with `import=true` a new container
    from the archive in the body (the path's name is then ignored, as podman's
    bindings send a placeholder there)."""
    options = _restore_options(request)
    if flag(request, "import"):
        return await _restore_import(request, options)
    if request.query.get("name"):
        raise InvalidArgument("name can only be used with import")
    if options["ignore_rootfs"]:
        raise InvalidArgument("ignoreRootFS can only be used with import")
    if options["ignore_volumes"]:
        raise InvalidArgument("ignoreVolumes can only be used with import")
    container = await request_container(request)
    await blocking.run(container.restore, options)
    return json_response(_report(container, options, "runtime_restore_duration"))


@libpod_routes.post("/containers/restore")
async def restore_import(request: web.Request) -> web.Response:
    """`POST /containers/restore?import=true&name=`: the import without a placeholder name."""
    if not flag(request, "import"):
        raise InvalidArgument("without a container in the path, restore needs import=true and the archive "
                              "in the request body")
    return await _restore_import(request, _restore_options(request))


async def _restore_import(request: web.Request, options: dict) -> web.Response:
    from ..engine.container import restore_imported

    with spool_path(request_runtime(request), ".restore-") as path:
        with open(path, "wb") as spool:
            await receive(request, spool)
        options.update(target_file=path, name=request.query.get("name", ""),
                       import_privileged=flag(request, "importPrivileged"))
        container = await blocking.run(restore_imported, request_runtime(request), options)
    return json_response(_report(container, options, "runtime_restore_duration"))


# -- prune ----------------------------------------------------------------------------------
@libpod_routes.post("/containers/prune")
async def prune(request: web.Request) -> web.Response:
    """Remove the containers that are not running: podman's reports, one per
    container tried (`Err` says why one could not be removed)."""
    from ..engine.prune import prune_containers

    reports = await blocking.run(prune_containers, request_runtime(request), filters(request))
    return json_response([{"Id": r.id, "Size": r.size, "Err": r.error or None} for r in reports])


@libpod_routes.get("/containers/{id}/healthcheck")
async def healthcheck(request: web.Request) -> web.Response:
    """Run the container's health check once (`healthcheck run`): podman's HealthCheckResults,
    whose last Log entry is this run's (its ExitCode says whether it passed)."""
    from ..engine import health

    container = await request_container(request)
    await blocking.run(health.run, container)
    return json_response(health.state_document(container.state.health))
