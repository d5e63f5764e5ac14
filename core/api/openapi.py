"""`GET /openapi.json`: the OpenAPI 3 document of the routes husk serves.

The document (openapi.json, next to this module) is written by hand, so it can
say what the routes mean; tests/unit/test_api_openapi.py compares it with the
router of a freshly made application, so a route added without documenting it
(or a documented one that is no longer served) fails the suite.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

DOCUMENT = Path(__file__).with_name("openapi.json")


def setup(app: web.Application) -> None:
    """Serve the document (unversioned only, as it names the versioned paths itself)."""
    app.router.add_get("/openapi.json", serve_document)


async def serve_document(request: web.Request) -> web.Response:
    return web.Response(body=DOCUMENT.read_bytes(), content_type="application/json")
