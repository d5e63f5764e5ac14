"""Docker's `POST /build` and libpod's `POST /libpod/build` (see husk.build).

The body is the context as a tar (plain or compressed), spooled to disk
first; the build runs in a worker thread and its output goes out as it comes,
as Docker's JSON lines: `{"stream": ...}` for the step lines and RUN's
output, `{"aux": {"ID": "sha256:..."}}` and `Successfully built <id>` at the
end (the docker CLI and SDK read the id from either), and an error after the
stream has started as `{"errorDetail": {"code", "message"}, "error": ...}`,
whose code the docker CLI exits with.  A client that goes away cancels the
build: its RUN container is removed and nothing is left mounted."""

from __future__ import annotations

import asyncio
import json
import threading

from aiohttp import web

from ..define import HuskError, InvalidArgument
from . import blocking
from .requests import filters, flag
from .responses import json_response, request_runtime
from .spool import receive, spool_file

routes = web.RouteTableDef()
libpod_routes = web.RouteTableDef()
_DONE = object()


def _json_map(request: web.Request, name: str) -> dict[str, str]:
    raw = request.query.get(name, "")
    if not raw:
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid {name}: not a JSON object") from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"invalid {name}: not a JSON object")
    return {str(key): "" if value is None else str(value) for key, value in document.items()}


def _pull_policy(request: web.Request) -> str:
    """Docker's `pull` (a boolean: always) or libpod's (a policy name)."""
    value = request.query.get("pull", "")
    if value in ("always", "missing", "never", "newer"):
        return value
    return "always" if value and flag(request, "pull") else "missing"


def _options(request: web.Request, cancelled: threading.Event):
    from ..build.builder import Options

    if request.query.get("remote"):
        raise InvalidArgument("a remote build context is not supported: send the context as the body")
    network = request.query.get("networkmode", "") or "host"
    if network in ("default", "bridge"):
        network = "host"
    if network not in ("host", "none"):
        raise InvalidArgument(f"unsupported build network {network!r}: host or none")
    return Options(tags=[tag for tag in request.query.getall("t", []) if tag],
                   build_args=_json_map(request, "buildargs"), labels=_json_map(request, "labels"),
                   target=request.query.get("target", ""), no_cache=flag(request, "nocache"),
                   layers=flag(request, "layers", True), format=request.query.get("outputformat", "docker")
                   if request.query.get("outputformat") in ("oci", "docker") else "docker",
                   network=network, quiet=flag(request, "q"), cancelled=cancelled, pull=_pull_policy(request),
                   squash=flag(request, "squash"))


async def _build(request: web.Request, libpod: bool = False) -> web.StreamResponse:
    from ..build import build
    from ..build.builder import Output

    runtime = request_runtime(request)
    cancelled = threading.Event()
    options = _options(request, cancelled)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def put(document) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, document)

    output = Output(lambda text: put({"stream": text + "\n"}),
                    lambda data: put({"stream": data.decode("utf-8", errors="replace")}))
    with spool_file(runtime) as spool:
        await receive(request, spool)

        def work() -> str:
            try:
                return build(runtime, "-", options, output, containerfile=request.query.get("dockerfile", ""),
                             stdin=spool, outside_ok=False, fallback=libpod)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        task = asyncio.ensure_future(blocking.run(work))
        try:
            while (document := await queue.get()) is not _DONE:
                await response.write(json.dumps(document).encode() + b"\n")
            try:
                image_id = await task
            except HuskError as exc:
                message = str(exc)
                documents = [{"errorDetail": {"code": exc.exit_code, "message": message}, "error": message}]
            else:  # podman's clients take the id from a line of its own, docker's from aux or these
                shown = image_id if libpod else f"sha256:{image_id}" if options.quiet \
                    else f"Successfully built {image_id[:12]}"
                documents = [{"aux": {"ID": f"sha256:{image_id}"}}, {"stream": shown + "\n"}]
            for document in documents:
                await response.write(json.dumps(document).encode() + b"\n")
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            cancelled.set()  # the client has gone: the build stops and cleans up
            await asyncio.shield(asyncio.wait([task]))
            if not task.cancelled():
                task.exception()  # retrieved: the cancellation it most likely is has been reported
            raise
    return response


@routes.post("/build")
async def docker_build(request: web.Request) -> web.StreamResponse:
    """Docker's build: t (several), dockerfile, buildargs, labels, target, nocache, q, rm, forcerm, pull."""
    return await _build(request)


@libpod_routes.post("/build")
async def libpod_build(request: web.Request) -> web.StreamResponse:
    """libpod's build: the same parameters (and layers, outputformat), the same stream,
    the image's id on a line of its own at the end (as podman-py reads it)."""
    return await _build(request, libpod=True)


@routes.post("/build/prune")
async def docker_build_prune(request: web.Request) -> web.Response:
    """Docker's build cache prune (`docker builder prune`, `docker system prune`): the
    dangling entries, or every one with `all`, matching `filters` (husk.build.usage)."""
    from ..build.usage import prune_build_cache

    removed, freed = await blocking.run(prune_build_cache, request_runtime(request), flag(request, "all"),
                                        filters(request))
    return json_response({"CachesDeleted": removed, "SpaceReclaimed": freed})
