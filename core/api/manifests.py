"""libpod's `/manifests` routes, as podman 4.3 serves them: v4's create
(`POST /manifests/{name}`), modify (`PUT`, operation update/remove/annotate),
delete (`DELETE`) and push (`POST /manifests/{name}/registry/{destination}`),
and v3's create (`POST /manifests/create`), add, remove-digest (`DELETE` with
`digest`) and push, told apart by the path's API version as podman does.
Inspect and exists are both versions'.  A list's name may hold slashes
(`{name:.*}`), so one route per method takes the rest of the path."""

from __future__ import annotations

import msgspec
from aiohttp import web

from ..define import InvalidArgument, NoSuchImage
from . import blocking
from .requests import decode_body, flag, registry_options
from .responses import json_response, request_runtime

libpod_routes = web.RouteTableDef()


class ModifyBody(msgspec.Struct, omit_defaults=True):
    """ManifestModifyOptions (v4) and ManifestAddOptions (v3): annotation is a
    list of KEY=VALUE or a map, annotations a map."""

    operation: str = ""
    images: list[str] | None = None
    all: bool = False
    arch: str = ""
    os: str = ""
    variant: str = ""
    os_version: str = ""
    os_features: list[str] | None = None
    features: list[str] | None = None
    annotation: list[str] | dict[str, str] | None = None
    annotations: dict[str, str] | None = None


def _v3(request: web.Request) -> bool:
    return request.match_info["libpod_version"].split(".")[0] in ("0", "1", "2", "3")


def _annotations(body: ModifyBody) -> dict[str, str]:
    from ..storage.manifest_list import parse_annotations

    result = dict(body.annotations or {})
    if isinstance(body.annotation, dict):
        result.update(body.annotation)
    result.update(parse_annotations(body.annotation if isinstance(body.annotation, list) else ()))
    return result


def _platform(body: ModifyBody) -> dict:
    return {"arch": body.arch, "os_": body.os, "variant": body.variant, "os_version": body.os_version,
            "os_features": body.os_features or (), "features": body.features or (),
            "annotations": _annotations(body)}


async def _body(request: web.Request) -> ModifyBody:
    """The body's options; keys match whatever their case (podman's client sends its
    Go field names, `Operation`, and nulls for what is unset, as Go's decoder allows)."""
    raw = await decode_body(request, dict)
    try:
        return msgspec.convert({key.lower(): value for key, value in raw.items() if value is not None}, ModifyBody)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(f"invalid request body: {exc}") from None


async def _create(request: web.Request, name: str) -> web.Response:
    from ..storage import manifest_list

    images = [i for value in request.query.getall("images", []) + request.query.getall("image", [])
              for i in value.split(",") if i]
    body = await _body(request)
    runtime = request_runtime(request)

    def create() -> str:
        list_id = manifest_list.create(runtime, name, amend=flag(request, "amend"))
        for image in [*images, *(body.images or [])]:
            manifest_list.add(runtime, list_id, image, **_platform(body))
        return list_id

    return json_response({"Id": await blocking.run(create)}, status=200 if _v3(request) else 201)


@libpod_routes.post("/manifests/create")
async def create_v3(request: web.Request) -> web.Response:
    return await _create(request, request.query.get("name", "") or "create")


@libpod_routes.get("/manifests/{name:.*}/json")
async def inspect(request: web.Request) -> web.Response:
    from ..storage import manifest_list

    record = await blocking.run(manifest_list.get_list, request_runtime(request), request.match_info["name"])
    return json_response(manifest_list.index_of(record))


@libpod_routes.get("/manifests/{name:.*}/exists")
async def exists(request: web.Request) -> web.Response:
    from ..define import HuskError
    from ..storage import manifest_list

    try:
        await blocking.run(manifest_list.get_list, request_runtime(request), request.match_info["name"])
    except HuskError:
        raise NoSuchImage(f"{request.match_info['name']}: no such manifest list") from None
    return web.Response(status=204)


@libpod_routes.post("/manifests/{name:.*}")
async def post(request: web.Request) -> web.Response:
    """v4: create, or push (`NAME/registry/DESTINATION`); v3: add (`NAME/add`) or push (`NAME/push`)."""
    from ..storage import manifest_list

    rest = request.match_info["name"]
    name, sep, destination = rest.rpartition("/registry/")
    if not _v3(request):
        return await (_push(request, name, destination) if sep else _create(request, rest))
    if rest.endswith("/push"):
        return await _push(request, rest.removesuffix("/push"), request.query.get("destination", ""))
    if not rest.endswith("/add"):
        raise web.HTTPNotFound()
    body = await _body(request)
    runtime = request_runtime(request)

    def add() -> str:
        list_id = ""
        for image in body.images or []:
            list_id = manifest_list.add(runtime, rest.removesuffix("/add"), image, **_platform(body))
        return list_id or manifest_list.get_list(runtime, rest.removesuffix("/add")).id

    return json_response({"Id": await blocking.run(add)})


async def _push(request: web.Request, name: str, destination: str) -> web.Response:
    from ..storage import manifest_list
    from ..storage.images import remove_image
    from ..storage.push import push_list

    if not destination:
        raise InvalidArgument("a destination is required")
    options = registry_options(request)
    runtime = request_runtime(request)

    def push() -> str:
        digest = push_list(runtime, manifest_list.get_list(runtime, name), destination,
                           all_=flag(request, "all", True), manifest_format=request.query.get("format", ""),
                           options=options)
        if flag(request, "rm"):
            remove_image(runtime, name)
        return digest

    return json_response({"Id": await blocking.run(push)})


@libpod_routes.put("/manifests/{name:.*}")
async def modify(request: web.Request) -> web.Response:
    """v4's ManifestModify: add (`update`), `remove` or `annotate` the body's images;
    a ManifestModifyReport."""
    from ..storage import manifest_list

    name = request.match_info["name"]
    body = await _body(request)
    runtime = request_runtime(request)
    if body.operation not in ("update", "remove", "annotate"):
        raise InvalidArgument(f"unknown operation {body.operation!r}: update, remove or annotate")
    if not body.images:
        raise InvalidArgument(f"{body.operation} needs images")

    def modify() -> str:
        list_id = manifest_list.get_list(runtime, name).id
        for image in body.images:
            if body.operation == "update":
                manifest_list.add(runtime, list_id, image, **_platform(body))
            elif body.operation == "remove":
                manifest_list.remove(runtime, name, image)
            else:
                manifest_list.annotate(runtime, name, image, **_platform(body))
        return list_id

    list_id = await blocking.run(modify)
    return json_response({"Id": list_id, "images": body.images, "files": None, "errors": None})


@libpod_routes.delete("/manifests/{name:.*}")
async def delete(request: web.Request) -> web.Response:
    """v4: remove the list (an images-remove report); v3: remove the instance `digest` from it."""
    from ..storage import manifest_list
    from ..storage.images import remove_image

    name = request.match_info["name"]
    runtime = request_runtime(request)
    if _v3(request):
        return json_response({"Id": await blocking.run(manifest_list.remove, runtime, name,
                                                       request.query.get("digest", ""))})

    def delete() -> dict:
        manifest_list.get_list(runtime, name)
        removal = remove_image(runtime, name)
        return {"Untagged": removal.untagged or None, "Deleted": [removal.image.id] if removal.deleted else None,
                "Errors": None, "ExitCode": 0}

    return json_response(await blocking.run(delete))
