"""Image routes beyond list/inspect/remove/import: tag, untag, save (`get`),
load and history, for Docker and libpod, plus libpod's image inspect, remove
and import (podman-py's `images.get`, `images.remove`, `images.load`).

Archives in either direction go through a spool file under the storage root:
a load needs random access (Docker writes manifest.json last), and a save is
written whole before the first byte is answered, so a failure is a JSON
error with its status rather than a tar cut short under a 200.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import json

from aiohttp import web

from ..define import InvalidArgument
from . import blocking
from .responses import json_response, request_runtime
from .requests import flag
from .spool import receive, send, spool_file

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

routes = web.RouteTableDef()
libpod_routes = web.RouteTableDef()


async def _load_body(request: web.Request):
    """The request body (a docker-archive tar, maybe chunked) spooled, then loaded."""
    from ..storage.image_archive import load_images

    with spool_file(request_runtime(request)) as spool:
        await receive(request, spool)
        return await blocking.run(load_images, request_runtime(request), spool)


async def _save_response(request: web.Request, names: list[str]) -> web.StreamResponse:
    """Save the images to a spool file, then stream it as the answer."""
    from ..storage.image_archive import save_images

    if not names:
        raise InvalidArgument("no image names given")
    with spool_file(request_runtime(request)) as spool:
        await blocking.run(save_images, request_runtime(request), names, spool)
        await blocking.run(spool.seek, 0)
        return await send(request, spool)


def _reference(request: web.Request, required: bool = True) -> str:
    """`repo` and `tag` query parameters as one name (`tag` defaults to latest)."""
    repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
    if not repo:
        if required:
            raise InvalidArgument("repository name must be given (repo=...)")
        return ""
    return f"{repo}:{tag}" if tag else repo


# -- Docker ---------------------------------------------------------------------------------
@routes.post("/images/{name:.+}/tag")
async def tag(request: web.Request) -> web.Response:
    from ..storage.images import tag_image

    await blocking.run(tag_image, request_runtime(request), request.match_info["name"], [_reference(request)])
    return web.Response(status=201)


@routes.get("/images/get")
async def save_many(request: web.Request) -> web.StreamResponse:
    return await _save_response(request, request.query.getall("names", []))


@routes.get("/images/{name:.+}/get")
async def save(request: web.Request) -> web.StreamResponse:
    return await _save_response(request, [request.match_info["name"]])


@routes.post("/images/load")
async def load(request: web.Request) -> web.Response:
    """Docker answers a JSON message stream: one `Loaded image` line per name."""
    flag(request, "quiet")
    loaded = await _load_body(request)
    lines = []
    for item in loaded:
        lines += [f"Loaded image: {name}\n" for name in item.archive_tags] or \
            [f"Loaded image ID: sha256:{item.image.id}\n"]
    body = b"".join(json.dumps({"stream": line}).encode() + b"\n" for line in lines)
    return web.Response(body=body, content_type="application/json")


@routes.get("/images/{name:.+}/history")
async def history(request: web.Request) -> web.Response:
    from ..storage.images import image_history

    return json_response(await blocking.run(image_history, request_runtime(request), request.match_info["name"]))


# -- libpod ---------------------------------------------------------------------------------
@libpod_routes.get("/images/{name:.+}/json")
async def libpod_inspect(request: web.Request) -> web.Response:
    from ..presentation.images import image_document
    from ..storage.images import resolve_image

    image = await blocking.run(resolve_image, request_runtime(request), request.match_info["name"])
    return json_response(image_document(image, request_runtime(request).paths))


def _remove_report(runtime: "Runtime", names: list[str], force: bool) -> dict:
    """podman's ImageRemoveReport: what went, what failed, an exit code."""
    from ..define import HuskError, NoSuchImage
    from ..storage.images import remove_image

    report: dict = {"Deleted": [], "Untagged": [], "Errors": [], "ExitCode": 0}
    for name in names:
        try:
            removal = remove_image(runtime, name, force=force)
        except NoSuchImage as exc:
            report["Errors"].append(str(exc))
            report["ExitCode"] = 1
            continue
        except HuskError as exc:
            report["Errors"].append(str(exc))
            report["ExitCode"] = exc.exit_code
            continue
        report["Untagged"] += removal.untagged
        if removal.deleted:
            report["Deleted"].append(removal.image.id)
    return report


@libpod_routes.delete("/images/remove")
async def libpod_remove_many(request: web.Request) -> web.Response:
    force, all_ = flag(request, "force"), flag(request, "all")
    names = request.query.getall("images", [])
    if all_:
        names = [image.id for image in await blocking.run(request_runtime(request).store.images)]
    elif not names:
        raise InvalidArgument("image name or ID must be specified (images=...) or all=true")
    return json_response(await blocking.run(_remove_report, request_runtime(request), names, force))


@libpod_routes.delete("/images/{name:.+}")
async def libpod_remove(request: web.Request) -> web.Response:
    """One image: an unknown one is a 404 (podman-py raises ImageNotFound), an
    image in use a 409, as podman's service answers."""
    from ..storage.images import remove_image

    removal = await blocking.run(remove_image, request_runtime(request), request.match_info["name"], flag(request, "force"))
    return json_response({"Deleted": [removal.image.id] if removal.deleted else [], "Untagged": removal.untagged,
                  "Errors": [], "ExitCode": 0})


@libpod_routes.post("/images/import")
async def libpod_import(request: web.Request) -> web.Response:
    from ..storage.images import import_tarball

    if request.query.get("url"):
        raise InvalidArgument("husk imports only the tar in the request body, not a url")
    reference = request.query.get("reference", "")
    changes = request.query.getall("changes", [])
    message = request.query.get("message", "")
    with spool_file(request_runtime(request)) as spool:
        await receive(request, spool)
        image = await blocking.run(import_tarball, request_runtime(request), spool, reference, changes, message)
    return json_response({"Id": image.id})


@libpod_routes.post("/images/{name:.+}/tag")
async def libpod_tag(request: web.Request) -> web.Response:
    return await tag(request)


@libpod_routes.post("/images/{name:.+}/untag")
async def libpod_untag(request: web.Request) -> web.Response:
    """Without repo, every name goes (podman's untag of all)."""
    from ..storage.images import untag_image

    reference = _reference(request, required=False)
    await blocking.run(untag_image, request_runtime(request), request.match_info["name"],
                       [reference] if reference else [])
    return web.Response(status=201)


@libpod_routes.post("/images/load")
async def libpod_load(request: web.Request) -> web.Response:
    """podman's ImageLoadReport: the names loaded (the id for an unnamed image)."""
    from ..storage.images import normalize

    loaded = await _load_body(request)
    names = []
    for item in loaded:
        names += [normalize(tag) for tag in item.archive_tags] or ["sha256:" + item.image.id]
    return json_response({"Names": names})


@libpod_routes.get("/images/{name:.+}/get")
async def libpod_save(request: web.Request) -> web.StreamResponse:
    for format_ in request.query.getall("format", []):
        if format_ != "docker-archive":
            raise InvalidArgument(f"unsupported format {format_!r}: husk saves docker-archive")
    return await _save_response(request, [request.match_info["name"]])


@libpod_routes.get("/images/{name:.+}/history")
async def libpod_history(request: web.Request) -> web.Response:
    return await history(request)


@libpod_routes.get("/images/{name:.+}/tree")
async def libpod_tree(request: web.Request) -> web.Response:
    """podman's ImageTreeReport: `image tree`'s text (`whatrequires` as its flag)."""
    from ..presentation.image_tree import tree_text
    from ..storage.images import resolve_image

    def tree() -> str:
        runtime = request_runtime(request)
        return tree_text(runtime, resolve_image(runtime, request.match_info["name"]), flag(request, "whatrequires"))

    return json_response({"Tree": await blocking.run(tree)})
