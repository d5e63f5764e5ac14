"""Containers' resource usage: Docker's `GET /containers/{id}/stats` and libpod's `GET /containers/stats`.

Docker's document carries the previous sample as `precpu_stats`, from which
docker's clients compute CPU % themselves: streamed, one document a second,
each with the one before as its previous (the first has none, as Docker's);
`stream=false` samples twice a second apart, as Docker does, unless
`one-shot=true` (then only once).  libpod's endpoint sends podman's reports
(husk.presentation.stats) for several containers every `interval` seconds.
A stream ends when its container stops (Docker's) or the service does.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from ..define import InvalidArgument, NoSuchContainer, State
from . import blocking
from .keys import WATCHER
from .requests import flag, integer
from .responses import json_response, request_container, request_runtime

routes = web.RouteTableDef()
libpod_routes = web.RouteTableDef()

#: seconds between Docker's samples
DOCKER_INTERVAL = 1.0


def _sample(container):
    from ..engine.stats import sample

    return sample(container)


@routes.get("/containers/{id}/stats")
async def docker_stats(request: web.Request) -> web.StreamResponse:
    from ..presentation.stats import docker_stats as document

    container = await request_container(request)
    stream, one_shot = flag(request, "stream", True), flag(request, "one-shot")
    if stream and one_shot:
        raise InvalidArgument("cannot have stream=true and one-shot=true")
    if not stream:
        previous = None
        if not one_shot:
            previous = await blocking.run(_sample, container)
            if previous is not None:
                await asyncio.sleep(DOCKER_INTERVAL)
        current = await blocking.run(_sample, container)
        return json_response(document(container, current, previous if current else None))
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    previous, watcher = None, request.app[WATCHER]
    while True:
        current = await blocking.run(_sample, container)
        await response.write(json.dumps(document(container, current, previous)).encode() + b"\n")
        if current is None or watcher.stopped:
            break
        previous = current
        await asyncio.sleep(DOCKER_INTERVAL)
    await response.write_eof()
    return response


@libpod_routes.get("/containers/stats")
async def libpod_stats(request: web.Request) -> web.StreamResponse:
    """`containers` (repeatable; none: the running ones), `stream` (default
    true), `interval` (seconds, default 5): `{"Error": null, "Stats": [...]}` per round."""
    from ..presentation.stats import podman_report

    names = request.query.getall("containers", [])
    interval = integer(request, "interval", 5)
    if interval < 1:
        raise InvalidArgument("invalid interval, must be a positive number greater zero")
    runtime = request_runtime(request)
    named = [await blocking.run(runtime.container, name) for name in names]  # a missing one: 404 at once

    def round_(previous: dict) -> tuple[dict, list]:
        containers = named or [c for c in runtime.containers(errors=[]) if _live(c)]
        current = {c.id: _sample(c) for c in containers}
        return current, [podman_report(c, current[c.id], previous.get(c.id)) for c in containers]

    previous, reports = await blocking.run(round_, {})
    if not flag(request, "stream", True):
        return json_response({"Error": None, "Stats": reports})
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    watcher = request.app[WATCHER]
    while True:
        await response.write(json.dumps({"Error": None, "Stats": reports}).encode() + b"\n")
        if watcher.stopped:
            break
        await asyncio.sleep(interval)
        previous, reports = await blocking.run(round_, previous)
    await response.write_eof()
    return response


def _live(container) -> bool:
    try:
        container.sync_if_unlocked()
    except NoSuchContainer:
        return False
    return container.state.state in (State.RUNNING, State.PAUSED)
