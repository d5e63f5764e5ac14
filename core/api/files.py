"""Files in and out of containers: the archive routes `docker cp` uses, and export.

`HEAD`/`GET`/`PUT /containers/{id}/archive` and `GET /containers/{id}/export`
(Docker's and libpod's) call :meth:`husk.Container.stat_path`,
:meth:`~husk.Container.copy_from`, :meth:`~husk.Container.copy_to` and
:meth:`~husk.Container.export`, the same engine calls as `husk cp` and `husk
export`.  Nothing is held in memory: a tar going out is written by the engine
into a pipe that the handler drains into the response; a tar coming in is
spooled to disk first (with the service's idle timeout on a stalled client),
and only then given to the engine, which holds the container's lock: a client
that stops sending halfway never blocks a `stop` of the container.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os

from aiohttp import web

from ..define import InvalidArgument
from . import blocking, spool
from .responses import request_container
from .requests import flag

routes = web.RouteTableDef()
libpod_routes = web.RouteTableDef()

log = logging.getLogger("husk.api")

STAT_HEADER = "X-Docker-Container-Path-Stat"
_CHUNK = 1 << 16


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("path is required: ?path=/dir/in/container")
    return path


@routes.get("/containers/{id}/archive")
async def get_archive(request: web.Request) -> web.StreamResponse:
    """The path's stat in a header (HEAD: only that), then the tar."""
    return await _get(request, libpod=False)


@libpod_routes.get("/containers/{id}/archive")
async def get_archive_libpod(request: web.Request) -> web.StreamResponse:
    """podman's: the stat says isDir, and its linkTarget is the path resolved even when it is no
    link (podman-remote's cp takes its destination from both; Docker's is set for links only)."""
    return await _get(request, libpod=True)


async def _get(request: web.Request, libpod: bool) -> web.StreamResponse:
    import posixpath

    path = _path(request)
    container = await request_container(request)
    path_stat = await blocking.run(container.stat_path, path)
    document = path_stat.docker()
    if libpod:  # podman's copy.FileInfo: isDir too
        document["isDir"] = path_stat.is_dir
        document["linkTarget"] = document["linkTarget"] or posixpath.normpath("/" + path.lstrip("/"))
    headers = {STAT_HEADER: base64.b64encode(json.dumps(document).encode()).decode()}
    if request.method == "HEAD":
        return web.Response(status=200, headers=headers)
    return await _stream_tar(request, headers, lambda out: container.copy_from(path, out))


@routes.put("/containers/{id}/archive")
async def put_archive(request: web.Request) -> web.Response:
    """Docker's: `copyUIDGID` chowns to the container's user, `noOverwriteDirNonDir`
    refuses to swap a directory for a file or the reverse."""
    return await _put(request, chown=flag(request, "copyUIDGID"))


@libpod_routes.put("/containers/{id}/archive")
async def put_archive_libpod(request: web.Request) -> web.Response:
    """podman's: `chown` (default true) chowns to the container's user."""
    return await _put(request, chown=flag(request, "chown", True))


async def _put(request: web.Request, chown: bool) -> web.Response:
    path = _path(request)
    no_overwrite = flag(request, "noOverwriteDirNonDir")
    container = await request_container(request)
    with spool.spool_file(container.runtime) as body:
        await spool.receive(request, body)  # before the engine call: a stalled client holds no lock
        await blocking.run(container.copy_to, path, body, chown=chown, no_overwrite_dir_non_dir=no_overwrite)
    return web.Response(status=200)


@routes.get("/containers/{id}/export")
@libpod_routes.get("/containers/{id}/export")
async def export(request: web.Request) -> web.StreamResponse:
    container = await request_container(request)
    return await _stream_tar(request, {}, container.export)


async def _stream_tar(request: web.Request, headers: dict[str, str], produce) -> web.StreamResponse:
    """Run `produce(binary_file)` in the thread pool and stream what it writes.

    The status goes out with the first bytes, so a failure before any (the
    export's tar missing, the path gone since the stat) is still a JSON error.
    A failure later can only cut the stream: the connection is closed without
    the chunked body's end, which clients report as a truncated body.  A client
    that leaves closes the pipe, and the engine's writes fail at once."""
    read_fd, write_fd = os.pipe()
    loop = asyncio.get_running_loop()

    def run() -> None:
        try:
            with os.fdopen(write_fd, "wb") as out:
                produce(out)
        except BrokenPipeError:
            pass  # the reader is gone: the client left

    producer = loop.run_in_executor(None, run)
    # retrieved here so that an abandoned failure is never logged as unhandled
    producer.add_done_callback(lambda future: future.cancelled() or future.exception())
    reader = os.fdopen(read_fd, "rb", buffering=0)
    try:
        chunk = await blocking.run(reader.read, _CHUNK)
        if not chunk:
            await producer  # its error, if any, is the answer
        response = web.StreamResponse(headers={**headers, "Content-Type": "application/x-tar"})
        await response.prepare(request)
        try:
            while chunk:
                await response.write(chunk)
                chunk = await blocking.run(reader.read, _CHUNK)
            try:
                await producer
            except Exception as exc:  # noqa: BLE001 - past the headers: only cutting the stream is left
                log.warning("%s %s cut short: %s", request.method, request.path, exc)
                request.transport.close()
                return response
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client left; closing the pipe below stops the engine's writes
        return response
    finally:
        reader.close()
