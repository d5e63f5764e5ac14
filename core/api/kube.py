"""The libpod kube routes: `POST /libpod/play/kube` (and `/libpod/kube/play`) runs the YAML
of the request body as `kube play` does (husk.presentation.kube_play), pulling the images the
service lacks first; `DELETE` of the same paths takes the YAML's pods down.  The answers are
podman's PlayKubeReport and its down report, which podman-remote prints.  `GET
/libpod/generate/kube` answers `generate kube`'s YAML (husk.presentation.kube).
"""

from __future__ import annotations

import io

from aiohttp import web

from ..define import InvalidArgument
from . import blocking
from .requests import flag
from .responses import json_response, request_runtime

libpod_routes = web.RouteTableDef()

#: the largest YAML accepted (kube play's documents are small; the body is read into memory)
MAX_YAML = 4 << 20


async def _documents(request: web.Request) -> list[dict]:
    from ..presentation.kube_play import read_documents

    body = await request.content.read(MAX_YAML + 1)
    if len(body) > MAX_YAML:
        raise InvalidArgument(f"the YAML is larger than {MAX_YAML} bytes")
    return read_documents(io.BytesIO(body))


@libpod_routes.post("/play/kube")
@libpod_routes.post("/kube/play")
async def play(request: web.Request) -> web.Response:
    """`start` (default true), `network` (repeatable), `logDriver`, `replace`: as the CLI's flags."""
    from ..presentation.kube_play import down, images, play as play_documents

    documents = await _documents(request)
    log_driver = request.query.get("logDriver", "")
    if log_driver not in ("", "k8s-file", "json-file", "none"):
        raise InvalidArgument(f"invalid log driver: {log_driver}: use k8s-file, json-file or none")
    runtime = request_runtime(request)

    def run() -> dict:
        _pull_missing(runtime, images(documents))
        if flag(request, "replace"):
            down(runtime, documents)
        return play_documents(runtime, documents, start=flag(request, "start", True),
                              network=request.query.getall("network", []) or None, log_driver=log_driver)

    made = await blocking.run(run)
    return json_response({
        "Pods": [{"ID": pod, "Containers": made["PodContainers"][pod], "InitContainers": [], "Logs": [],
                  "ContainerErrors": []} for pod in made["Pods"]],
        "Volumes": [{"Name": name} for name in made["Volumes"]],
        "Secrets": [{"CreateReport": {"ID": ident}} for ident in made["Secrets"]],
        "RmReport": None, "StopReport": None})


def _pull_missing(runtime, references: list[str]) -> None:
    from ..define import NoSuchImage
    from ..storage.images import resolve_image
    from ..storage.pull import pull

    for reference in references:
        try:
            resolve_image(runtime, reference)
        except NoSuchImage:
            pull(runtime, reference)


@libpod_routes.delete("/play/kube")
@libpod_routes.delete("/kube/play")
async def take_down(request: web.Request) -> web.Response:
    from ..presentation.kube_play import down

    documents = await _documents(request)
    removed = await blocking.run(down, request_runtime(request), documents)
    reports = [{"Id": pod, "Errs": []} for pod in removed]
    return json_response({"StopReport": reports, "RmReport": [{"Id": pod, "Err": None} for pod in removed]})


@libpod_routes.get("/generate/kube")
async def generate(request: web.Request) -> web.Response:
    """`names` (repeatable: pods, containers, volumes), `service`, `type` (pod or deployment)."""
    from ..presentation.kube import generate as generate_yaml

    names = request.query.getall("names", [])
    if not names:
        raise InvalidArgument("you must provide at least one container, pod or volume name or id")
    text = await blocking.run(generate_yaml, request_runtime(request), names, service=flag(request, "service"),
                              kind=request.query.get("type", "pod") or "pod")
    return web.Response(text=text, content_type="text/yaml")
