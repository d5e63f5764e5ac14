"""Secret routes: Docker's `/secrets` (as far as podman serves them) and
libpod's `/libpod/secrets`.  No route ever answers with a secret's value."""

from __future__ import annotations

import base64
import binascii

import msgspec
from aiohttp import web

from ..define import InvalidArgument
from ..presentation.secrets import secret_document
from . import blocking
from .requests import decode_body
from .responses import json_response, request_runtime

routes = web.RouteTableDef()
libpod_routes = web.RouteTableDef()


class DockerSecretBody(msgspec.Struct, rename="pascal"):
    name: str = ""
    data: str = ""
    labels: dict[str, str] | None = None
    driver: dict | None = None


def _document(request: web.Request, secret) -> dict:
    return secret_document(secret, request_runtime(request).paths.secrets_dir)


def _docker(request: web.Request, secret) -> dict:
    return {**_document(request, secret), "Version": {"Index": 1}}


def _create(request: web.Request, name: str, data: bytes, driver: str, labels) -> dict:
    from ..engine.secrets import create

    return {"ID": create(request_runtime(request), name, data, driver=driver or "file", labels=labels).id}


def _lookup(request: web.Request, key: str):
    from ..engine.secrets import lookup

    return lookup(request_runtime(request), request.match_info[key])


def _remove(request: web.Request, key: str) -> None:
    from ..engine.secrets import remove

    remove(request_runtime(request), request.match_info[key])


def _all(request: web.Request) -> list:
    return sorted(request_runtime(request).store.secrets(), key=lambda s: s.created)


# -- Docker -----------------------------------------------------------------------------------
@routes.get("/secrets")
async def docker_list(request: web.Request) -> web.Response:
    return json_response([_docker(request, s) for s in await blocking.run(_all, request)])


@routes.post("/secrets/create")
async def docker_create(request: web.Request) -> web.Response:
    body = await decode_body(request, DockerSecretBody)
    try:
        data = base64.b64decode(body.data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("invalid secret Data: not base64") from None
    driver = (body.driver or {}).get("Name", "file")
    return json_response(await blocking.run(_create, request, body.name, data, driver, body.labels), status=201)


@routes.get("/secrets/{id}")
async def docker_inspect(request: web.Request) -> web.Response:
    return json_response(_docker(request, await blocking.run(_lookup, request, "id")))


@routes.delete("/secrets/{id}")
async def docker_remove(request: web.Request) -> web.Response:
    await blocking.run(_remove, request, "id")
    return web.Response(status=204)


# -- libpod -----------------------------------------------------------------------------------
@libpod_routes.get("/secrets/json")
async def libpod_list(request: web.Request) -> web.Response:
    return json_response([_document(request, s) for s in await blocking.run(_all, request)])


@libpod_routes.post("/secrets/create")
async def libpod_create(request: web.Request) -> web.Response:
    from ..engine.secrets import MAX_SIZE

    data = await request.content.read(MAX_SIZE + 1)
    name, driver = request.query.get("name", ""), request.query.get("driver", "file")
    return json_response(await blocking.run(_create, request, name, data, driver, None))


@libpod_routes.get("/secrets/{name}/json")
async def libpod_inspect(request: web.Request) -> web.Response:
    return json_response(_document(request, await blocking.run(_lookup, request, "name")))


@libpod_routes.get("/secrets/{name}/exists")
async def libpod_exists(request: web.Request) -> web.Response:
    from ..define import NoSuchSecret

    try:
        await blocking.run(_lookup, request, "name")
    except NoSuchSecret:
        return web.Response(status=404)
    return web.Response(status=204)


@libpod_routes.delete("/secrets/{name}")
async def libpod_remove(request: web.Request) -> web.Response:
    await blocking.run(_remove, request, "name")
    return web.Response(status=204)
