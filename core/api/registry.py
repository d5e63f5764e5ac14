"""Registry routes: Docker's pull (`POST /images/create?fromImage=`, answered
by :func:`docker_pull`), push and `/auth`; libpod's `/images/pull` and
`/images/push`.

A pull or push runs in a worker thread; its progress crosses to the event
loop through a queue and goes out as the client's stream: Docker's JSON
messages (what `docker pull` draws its bars from) or libpod's report.  An
error after the stream has started is the stream's last message, as both
daemons do; before, it is an ordinary error answer.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from ..define import HuskError, InvalidArgument
from ..storage.pull import Progress
from . import blocking
from .requests import flag, registry_options
from .responses import json_response, request_runtime

routes = web.RouteTableDef()
libpod_routes = web.RouteTableDef()
_DONE = object()


def _with_tag(image: str, tag: str) -> str:
    """Docker's `fromImage` and `tag` as one reference (a tag may be a digest)."""
    if not tag or "@" in image:
        return image
    if tag.startswith("sha256:"):
        return f"{image}@{tag}"
    return image if ":" in image.rsplit("/", 1)[-1] else f"{image}:{tag}"


class _Queued(Progress):
    """Progress as documents on an asyncio queue (`render` makes them), from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue, render) -> None:
        self.loop, self.queue, self.render = loop, queue, render
        self.done: dict[str, int] = {}
        self.sizes: dict[str, int] = {}
        self.last: dict[str, float] = {}

    def put(self, document) -> None:
        if document is not None:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, document)

    def message(self, text: str) -> None:
        self.put(self.render("message", text=text))

    def layer_start(self, digest: str, size: int) -> None:
        self.sizes[digest], self.done[digest] = size, 0
        self.put(self.render("start", digest=digest))

    def layer_advance(self, digest: str, amount: int) -> None:
        self.done[digest] = self.done.get(digest, 0) + amount
        now = time.monotonic()
        if now - self.last.get(digest, 0.0) >= 0.1:
            self.last[digest] = now
            self.put(self.render("advance", digest=digest, current=self.done[digest], total=self.sizes.get(digest, 0)))

    def layer_done(self, digest: str, status: str) -> None:
        self.put(self.render("done", digest=digest, status=status))


async def _streamed(request: web.Request, work, render, finish, fail) -> web.StreamResponse:
    """Run `work(progress)` in a thread, streaming what `render` makes of its progress,
    then `finish(result)`'s documents (or `fail(error)`'s)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    progress = _Queued(loop, queue, render)
    response: web.StreamResponse | None = None

    async def send(document) -> None:
        nonlocal response
        if response is None:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
        await response.write(json.dumps(document).encode() + b"\n")

    def run():
        try:
            return work(progress)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    task = asyncio.ensure_future(blocking.run(run))
    while (document := await queue.get()) is not _DONE:
        await send(document)
    try:
        documents = finish(await task)
    except HuskError as exc:
        if response is None:
            raise  # nothing streamed yet: an ordinary error answer
        documents = fail(exc)
    for document in documents:
        await send(document)
    await response.write_eof()
    return response


def _docker_renderer(starting: str):
    """Docker's per-layer messages; a layer starts as `starting` ("Pulling fs layer", "Preparing")."""
    def render(kind: str, **info):
        if kind == "message":
            return None
        short = info["digest"][7:19]
        if kind == "start":
            return {"status": starting, "progressDetail": {}, "id": short}
        return _docker_layer(kind, short, info)
    return render


_docker_render = _docker_renderer("Pulling fs layer")
_docker_push_render = _docker_renderer("Preparing")


def _docker_layer(kind: str, short: str, info: dict) -> dict:
    if kind == "advance":
        current, total = info["current"], info["total"]
        filled = int(50 * current / total) if total > 0 else 0
        return {"status": "Downloading", "progressDetail": {"current": current, "total": total},
                "progress": f"[{'=' * max(filled - 1, 0)}{'>' if filled else ''}{' ' * (50 - filled)}]", "id": short}
    status = {"Already exists": "Already exists", "Pushed": "Pushed"}.get(info["status"], "Pull complete")
    return {"status": status, "progressDetail": {}, "id": short}


def _docker_error(exc: HuskError) -> list[dict]:
    return [{"errorDetail": {"message": str(exc)}, "error": str(exc)}]


async def docker_pull(request: web.Request, image: str, tag: str) -> web.StreamResponse:
    """Docker's pull: `fromImage` (maybe with a tag or digest) and `tag`."""
    from ..storage.pull import pull

    reference = _with_tag(image, tag)
    options = registry_options(request)
    runtime = request_runtime(request)

    def finish(images):
        image = images[-1]
        return [*([{"status": f"Digest: {image.digest}"}] if image.digest else []),
                {"status": f"Status: Downloaded newer image for {reference}"}]

    return await _streamed(request, lambda progress: pull(runtime, reference, options, progress), _docker_render,
                           finish, _docker_error)


@routes.post("/images/{name:.+}/push")
async def docker_push(request: web.Request) -> web.StreamResponse:
    from ..storage.push import push

    tag = request.query.get("tag", "")
    name = _with_tag(request.match_info["name"], tag)
    options = registry_options(request)
    runtime = request_runtime(request)

    def finish(digest: str):
        shown = tag or (name.rsplit(":", 1)[-1] if ":" in name.rsplit("/", 1)[-1] else "latest")
        return [{"status": f"{shown}: digest: {digest}"},
                {"progressDetail": {}, "aux": {"Tag": shown, "Digest": digest}}]

    return await _streamed(request, lambda progress: push(runtime, name, "", options=options, progress=progress),
                           _docker_push_render, finish, _docker_error)


@routes.post("/auth")
async def auth(request: web.Request) -> web.Response:
    """Check credentials against a registry (`docker login`); the client stores them."""
    from ..storage.registry import RegistryClient, TLSOptions, certs_dir_for
    from ..storage.registry_config import normalize_key

    try:
        document = await request.json()
    except ValueError:
        raise InvalidArgument("malformed JSON body") from None
    if not isinstance(document, dict) or not document.get("username"):
        raise InvalidArgument("username and password must be given")
    host = normalize_key(str(document.get("serveraddress") or "docker.io")).split("/", 1)[0]
    client = RegistryClient(host, credentials=(str(document["username"]), str(document.get("password", ""))),
                            tls=TLSOptions(cert_dir=certs_dir_for(host)))
    await blocking.run(client.check_login)
    return json_response({"Status": "Login Succeeded", "IdentityToken": ""})


# -- libpod ------------------------------------------------------------------------------------
def _libpod_render(kind: str, **info):
    if kind == "message":
        return {"stream": info["text"] + "\n"}
    return None


@libpod_routes.post("/images/pull")
async def libpod_pull(request: web.Request) -> web.StreamResponse:
    """podman's pull: a stream of {"stream"} lines, then {"images", "id"}, or {"error"}."""
    from ..storage.pull import pull
    from ..storage.pull_policy import stored_for_policy

    reference = request.query.get("reference", "")
    if not reference:
        raise InvalidArgument("reference must be given")
    quiet = flag(request, "quiet")
    options = registry_options(request)
    runtime = request_runtime(request)
    policy = request.query.get("policy", "always")  # podman-remote's run asks with `missing`

    def finish(images):
        ids = [image.id for image in images]
        return [{"images": ids, "id": ids[-1]}]

    def pull_unless_stored(progress):
        stored = stored_for_policy(runtime, reference, policy, lambda: options)
        return [stored] if stored is not None else pull(runtime, reference, options, progress)

    return await _streamed(request, pull_unless_stored,
                           (lambda kind, **info: None) if quiet else _libpod_render, finish,
                           lambda exc: [{"error": str(exc)}])


@libpod_routes.post("/images/{name:.+}/push")
async def libpod_push(request: web.Request) -> web.StreamResponse:
    from ..storage.push import push

    name = request.match_info["name"]
    destination = request.query.get("destination", "")
    options = registry_options(request)
    runtime = request_runtime(request)
    manifest_format = request.query.get("format", "oci")
    return await _streamed(
        request, lambda progress: push(runtime, name, destination, options=options, manifest_format=manifest_format,
                                       progress=progress),
        _libpod_render, lambda digest: [{"manifestdigest": digest}], lambda exc: [{"error": str(exc)}])
