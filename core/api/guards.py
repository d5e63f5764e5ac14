"""The service's doors: who may send a request, and where it may listen.

The API has no authentication: whoever can reach the socket is root on the
host, as with Docker's.  So the service keeps away what can reach it without
being meant to -- a web page in a browser on this host (any request with an
`Origin` header, which browsers always send on a cross-site POST, unless the
origin is one the user allowed with `--cors`), and a JSON body a browser can
send without a preflight (`Content-Type: text/plain`) -- and listens on TCP
beyond loopback only with client certificates (`--tls-client-ca`) or when
told, loudly, that it is meant.
"""

from __future__ import annotations

import ipaddress
import sys

from aiohttp import web

from ..define import InvalidArgument
from .errors import json_error

#: CORS headers on answers to an allowed origin, and on its preflight (OPTIONS)
_CORS_ALLOW = {"Access-Control-Allow-Headers": "*", "Access-Control-Allow-Methods": "*"}


def parse_cors(value: str) -> frozenset[str]:
    """`--cors`: origins separated by commas (`*`: any); empty: none."""
    origins = frozenset(part.strip() for part in value.split(",") if part.strip())
    for origin in origins - {"*"}:
        scheme, sep, rest = origin.partition("://")
        if not sep or scheme not in ("http", "https") or not rest or "/" in rest:
            raise InvalidArgument(f"invalid --cors origin {origin!r}: use scheme://host[:port] or *")
    return origins


def add_origin_guard(app: web.Application, allowed: frozenset[str]) -> None:
    """Refuse (403) a request with an `Origin` the user did not allow; answer an
    allowed one with the CORS headers (streams and hijacks included: they are
    added as the headers go out), and its preflight with 204."""

    def cors_headers(request: web.Request) -> dict[str, str]:
        return {"Access-Control-Allow-Origin": "*" if "*" in allowed else request.headers["Origin"], **_CORS_ALLOW}

    def refused(origin: str | None) -> bool:
        return origin is not None and origin not in allowed and "*" not in allowed

    @web.middleware
    async def check_origin(request: web.Request, handler):
        origin = request.headers.get("Origin")
        if refused(origin):
            return json_error(403, f"requests from web pages are refused (Origin: {origin[:100]}); "
                                   "allow an origin with `husk system service --cors ORIGIN`")
        if origin is not None and request.method == "OPTIONS":
            return web.Response(status=204, headers=cors_headers(request))
        return await handler(request)

    async def add_cors(request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if origin is not None and not refused(origin):
            response.headers.update(cors_headers(request))

    app.middlewares.insert(0, check_origin)
    if allowed:
        app.on_response_prepare.append(add_cors)


@web.middleware
async def http_1_only(request: web.Request, handler):
    """Close, unanswered, a request that is not HTTP/1.x: a request line with no
    version parses (depending on aiohttp's parser build) as HTTP/0.9, and the
    answer would go out as `HTTP/0.9 200` with headers, which no client reads."""
    if request.version.major != 1:
        request.transport.close()
        raise web.HTTPBadRequest()
    return await handler(request)


def check_json_content_type(request: web.Request) -> None:
    """A JSON body must say so, or say nothing (podman's remote client sends no
    Content-Type): `text/plain` is what a web page can send without asking."""
    kind = request.headers.get("Content-Type")
    if kind is not None and request.content_type != "application/json":
        raise InvalidArgument(f"unsupported Content-Type header ({kind[:100]}): must be 'application/json'")


def check_tcp_host(host: str, insecure: bool, client_certificates: bool = False) -> None:
    """Warn on every TCP listener without client certificates (mutual TLS, the
    only authentication there is); refuse one beyond loopback unless `insecure`."""
    if client_certificates:
        return
    loopback = host == "localhost" or _is_loopback(host)
    if not loopback and not insecure:
        raise InvalidArgument(f"refusing to serve the API on {host}, which is not loopback: it has no "
                              "authentication, so anyone who can connect is root on this host; "
                              "serve it with --tls-cert, --tls-key and --tls-client-ca, or pass --insecure-tcp if that is meant")
    print(f"WARNING: the API on tcp://{host} has no authentication: anyone who can connect "
          f"{'from this host ' if loopback else ''}is root here", file=sys.stderr)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
