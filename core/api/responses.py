"""What every route module answers with: the request's Runtime and container,
and JSON bodies.  Route modules import these from here, never from each other."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from . import blocking
from .documents import encode
from .keys import RUNTIME

if TYPE_CHECKING:
    from ..engine.container import Container
    from ..engine.runtime import Runtime


def request_runtime(request: web.Request) -> "Runtime":
    """The service's Runtime."""
    return request.app[RUNTIME]


def json_response(document, status: int = 200) -> web.Response:
    """``document`` as a JSON body (msgspec-encoded, see :func:`husk.api.documents.encode`)."""
    return web.Response(status=status, body=encode(document), content_type="application/json")


async def request_container(request: web.Request) -> "Container":
    """The container the path's ``{id}`` names (NoSuchContainer: a 404)."""
    return await blocking.run(request_runtime(request).container, request.match_info["id"])
