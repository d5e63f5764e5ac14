"""Image routes that act on more than one image or make one: commit, prune and
search, for Docker (`POST /commit`, `POST /images/prune`, `GET /images/search`)
and libpod (the same under /libpod)."""

from __future__ import annotations

import json

from aiohttp import web

from ..define import InvalidArgument
from . import blocking
from .requests import flag
from .responses import json_response, request_runtime

routes = web.RouteTableDef()
libpod_routes = web.RouteTableDef()


async def _commit(request: web.Request, format_: str = "oci") -> str:
    """Commit `container` as `repo:tag` (query), with `changes`, `comment`, `author`, `pause`,
    `squash` and `format` (libpod's; Docker's /commit makes Docker's format)."""
    from ..engine.commit import commit

    runtime = request_runtime(request)
    name = request.query.get("container", "")
    if not name:
        raise InvalidArgument("container must be given")
    repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
    reference = f"{repo}:{tag}" if repo and tag else repo
    container = await blocking.run(runtime.container, name)
    image = await blocking.run(commit, container, reference, changes=request.query.getall("changes", []),
                               message=request.query.get("comment", ""), author=request.query.get("author", ""),
                               pause=flag(request, "pause", True), format_=request.query.get("format", format_),
                               squash=flag(request, "squash", False))
    return image.id


@routes.post("/commit")
async def docker_commit(request: web.Request) -> web.Response:
    return json_response({"Id": "sha256:" + await _commit(request, "docker")}, status=201)


@libpod_routes.post("/commit")
async def libpod_commit(request: web.Request) -> web.Response:
    return json_response({"Id": await _commit(request)})


def _filters(request: web.Request) -> dict[str, list[str]]:
    """Docker's `filters` query parameter: JSON {key: [values]} (or {key: {value: true}})."""
    raw = request.query.get("filters", "")
    if not raw:
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        raise InvalidArgument("invalid filters: not JSON") from None
    if not isinstance(document, dict):
        raise InvalidArgument("invalid filters: expected an object")
    return {str(k): [str(x) for x in (v if isinstance(v, list) else list(v))] for k, v in document.items()}


async def _prune(request: web.Request) -> list[str]:
    from ..storage.image_prune import prune_images

    filters = _filters(request)
    return await blocking.run(prune_images, request_runtime(request), flag(request, "all"), filters)


@routes.post("/images/prune")
async def docker_prune(request: web.Request) -> web.Response:
    removed = await _prune(request)
    return json_response({"ImagesDeleted": [{"Deleted": "sha256:" + i} for i in removed] or None,
                          "SpaceReclaimed": 0})


@libpod_routes.post("/images/prune")
async def libpod_prune(request: web.Request) -> web.Response:
    return json_response([{"Id": i, "Size": 0} for i in await _prune(request)])


async def _search(request: web.Request) -> list[dict]:
    from ..storage.pull import PullOptions
    from ..storage.search import search

    term = request.query.get("term", "")
    if not term:
        raise InvalidArgument("term must be given")
    try:
        limit = int(request.query.get("limit", "25") or 25)
    except ValueError:
        raise InvalidArgument("invalid limit: not a number") from None
    tls = request.query.get("tlsVerify")
    options = PullOptions(tls_verify=None if tls is None else flag(request, "tlsVerify"))
    return await blocking.run(search, term, options, limit=limit, list_tags=flag(request, "listTags"))


@routes.get("/images/search")
async def docker_search(request: web.Request) -> web.Response:
    return json_response([{"name": row["Name"], "description": row.get("Description", ""), "star_count": 0,
                           "is_official": False, "is_automated": False} for row in await _search(request)])


@libpod_routes.get("/images/search")
async def libpod_search(request: web.Request) -> web.Response:
    return json_response([{"Index": row.get("Index", row["Name"].split("/", 1)[0]), "Name": row["Name"],
                           "Description": row.get("Description", ""), "Stars": 0, "Official": "",
                           "Automated": "", "Tag": row.get("Tag", "")} for row in await _search(request)])
