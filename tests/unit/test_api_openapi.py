"""The OpenAPI document (core/api/openapi.json) against the routes the service registers.

The application is built the way `husk system service` builds it
(husk.api.server.make_app), so routes added by any module are seen.  A route
registered without a documented operation fails here, and so does a documented
operation nothing serves.  The `/v{version}` prefixes (Docker's /v1.NN,
libpod's /vN.N.N) are folded away: the document lists each path once.
"""

from __future__ import annotations

import json
import re

import pytest

from husk.api import openapi
from husk.api.server import make_app

METHODS = {"get", "head", "post", "put", "delete", "patch", "options"}
_VERSION_PREFIX = re.compile(r"^/v\{[^}/]+\}(?=/)")


def normalise(path: str) -> str:
    """`/v{version}/containers/{id}/json` -> `/containers/{id}/json`."""
    return _VERSION_PREFIX.sub("", path)


def served_operations(app) -> dict[tuple[str, str], set[str]]:
    """(method, normalised path) -> the registered path templates it came from."""
    served: dict[tuple[str, str], set[str]] = {}
    for route in app.router.routes():
        template = route.resource.canonical
        served.setdefault((route.method.lower(), normalise(template)), set()).add(template)
    return served


def documented_operations(document) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item if method in METHODS}


@pytest.fixture(scope="module")
def document():
    return json.loads(openapi.DOCUMENT.read_text())


@pytest.fixture(scope="module")
def served():
    return served_operations(make_app(runtime=None))


def test_every_served_route_is_documented(document, served):
    documented = documented_operations(document)
    # aiohttp answers HEAD on every GET route; only HEADs that mean something are documented
    missing = sorted(f"{method.upper()} {path}" for method, path in served
                     if (method, path) not in documented and not (method == "head" and ("get", path) in served))
    assert not missing, f"routes served but missing from {openapi.DOCUMENT}: {missing}"


def test_every_documented_operation_is_served(document, served):
    stale = sorted(f"{method.upper()} {path}" for method, path in documented_operations(document)
                   if (method, path) not in served)
    assert not stale, f"documented in {openapi.DOCUMENT} but not served: {stale}"


def test_docker_routes_are_served_with_and_without_the_version_prefix(served):
    for (method, path), templates in served.items():
        if path.startswith("/libpod/") or path == "/openapi.json":
            continue
        assert path in templates and any(t != path for t in templates), f"{method.upper()} {path}: {templates}"


def test_path_parameters_are_declared(document):
    for path, item in document["paths"].items():
        in_path = set(re.findall(r"\{([^}]+)\}", path))
        for method, operation in item.items():
            if method not in METHODS:
                continue
            declared = {p["name"] for p in operation.get("parameters", []) + item.get("parameters", [])
                        if p.get("in") == "path"}
            assert declared == in_path, f"{method.upper()} {path}: path parameters {declared} != {in_path}"


def test_document_shape(document):
    """What an OpenAPI 3.0 reader needs: a version, info, and per operation a
    summary and responses keyed by status; every $ref resolves."""
    assert document["openapi"].startswith("3.0.")
    assert document["info"]["title"] and document["info"]["version"]
    for path, item in document["paths"].items():
        assert path.startswith("/") and not _VERSION_PREFIX.match(path), path
        for method, operation in item.items():
            assert method in METHODS or method == "parameters", f"{path}: {method}"
            if method in METHODS:
                assert operation.get("summary"), f"{method.upper()} {path} has no summary"
                assert operation["responses"] and all(re.fullmatch(r"[1-5][0-9][0-9]|default", code)
                                                      for code in operation["responses"]), f"{method.upper()} {path}"

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(document):
        target = document
        for part in ref.removeprefix("#/").split("/"):
            assert part in target, f"unresolved $ref {ref}"
            target = target[part]


#: the resource flows whose links schemathesis's stateful phase follows (issue 22): (from, to)
LINKED_FLOWS = [
    ("post /containers/create", "get /containers/{id}/json"),
    ("post /containers/create", "post /containers/{id}/start"),
    ("post /containers/create", "post /containers/{id}/stop"),
    ("post /containers/create", "post /containers/{id}/wait"),
    ("post /containers/create", "delete /containers/{id}"),
    ("post /containers/{id}/exec", "post /exec/{id}/start"),
    ("post /containers/{id}/exec", "get /exec/{id}/json"),
    ("post /images/create", "get /images/{name}/json"),
    ("post /volumes/create", "get /volumes/{name}"),
    ("post /volumes/create", "delete /volumes/{name}"),
    ("post /networks/create", "get /networks/{name}"),
    ("post /networks/create", "delete /networks/{name}"),
    ("post /libpod/containers/create", "get /libpod/containers/{id}/json"),
    ("post /libpod/containers/create", "delete /libpod/containers/{id}"),
    ("post /libpod/containers/{id}/exec", "post /libpod/exec/{id}/start"),
    ("post /libpod/volumes/create", "delete /libpod/volumes/{name}"),
    ("post /libpod/networks/create", "delete /libpod/networks/{name}"),
]


def _links(document):
    """((method, path) of the source, the link's target (method, path), its parameters) for every link."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for response in operation.get("responses", {}).values() if method in METHODS else ():
                for link in response.get("links", {}).values():
                    pointer = link["operationRef"].removeprefix("#/paths/")
                    target, _, target_method = pointer.rpartition("/")
                    yield (method, path), (target_method, target.replace("~1", "/").replace("~0", "~")), link


def test_links_name_real_operations_and_parameters(document):
    """Each OpenAPI link (operationRef) points at a documented operation, sets
    only parameters it declares (`path.id`), from a runtime expression."""
    seen = set()
    for source, (method, path), link in _links(document):
        operation = document["paths"].get(path, {}).get(method)
        assert operation, f"{source}: link to an undocumented {method.upper()} {path}"
        declared = {f"{p['in']}.{p['name']}" for p in operation.get("parameters", [])}
        for name, expression in link["parameters"].items():
            assert name in declared, f"{source} -> {method.upper()} {path}: no parameter {name}"
            assert re.fullmatch(r"\$(response\.body#/\w+|request\.query\.\w+)", expression), expression
        seen.add((f"{source[0]} {source[1]}", f"{method} {path}"))
    assert set(LINKED_FLOWS) <= seen, sorted(set(LINKED_FLOWS) - seen)


def test_the_check_notices_an_undocumented_route(document):
    """The comparison itself can fail: a route nobody documented shows up."""
    from aiohttp import web

    async def frobnicate(request):
        return web.Response()

    app = make_app(runtime=None)
    app.router.add_post("/v{version:[0-9.]+}/containers/{id}/frobnicate", frobnicate)
    served = served_operations(app)
    assert ("post", "/containers/{id}/frobnicate") in set(served) - documented_operations(document)


def test_document_is_served():
    """GET /openapi.json answers with the document, through the real application."""
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    async def fetch():
        async with TestClient(TestServer(make_app(runtime=None))) as client:
            response = await client.get("/openapi.json")
            return response.status, await response.json()

    status, body = asyncio.run(fetch())
    assert status == 200 and body == json.loads(openapi.DOCUMENT.read_text())
