"""Accepting connections: a cap on how many are open, and a deadline for the first request.

Without these a client (or many) could open connections and send nothing, or
half a request, and hold a descriptor each for ever.  Three limits:

* the header timeout: a new connection must have sent a whole request head
  within it, or it is closed;
* the idle timeout: a connection waiting for its next request head (from its
  start, or from the end of its last answer) is closed after it -- this is
  aiohttp's keep-alive timeout, which runs whether or not bytes trickle in --
  and a request body that stops arriving fails after it (see `read_body`);
* the connection cap: past it, a new connection is answered `503` with a JSON
  message and closed.  Event streams, followed logs, waits and attaches are
  connections too, so the default leaves room for thousands of them.

Requests being answered (streams and hijacked sessions included) are never
timed out here: their handlers own them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource

from aiohttp import web

log = logging.getLogger("husk.api")

#: descriptors kept for everything but connections (the store, logs, pipes to runtimes)
_SPARE_DESCRIPTORS = 256
#: descriptors a connection may need: its socket, and what its handler opens (a log, an attach socket)
_DESCRIPTORS_PER_CONNECTION = 3


class _Refuse(asyncio.Protocol):
    """A connection past the cap: a 503 answer, then the connection closed
    once the client has finished sending (closing with its request unread
    would reset the connection, and the client might never see the answer)."""

    def __init__(self, cap: int) -> None:
        body = json.dumps({"message": f"too many connections: the service serves at most {cap} at once; "
                                      "try again later"}).encode()
        self.answer = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                       b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    def connection_made(self, transport) -> None:
        transport.write(self.answer)
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(1.0, transport.close)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False  # the transport closes itself


class Doorman:
    """Makes the protocol of each accepted connection: aiohttp's, or a refusal past the cap."""

    def __init__(self, header_timeout: float, max_connections: int) -> None:
        #: aiohttp's server, which makes the protocols (set once the runner has made it)
        self.server: web.Server | None = None
        self.header_timeout = header_timeout
        self.max_connections = _fit_descriptor_limit(max_connections)
        #: connections that have not yet sent a whole request head
        self.waiting_for_head: set = set()

    def __call__(self) -> asyncio.Protocol:
        if len(self.server.connections) >= self.max_connections:
            return _Refuse(self.max_connections)
        protocol = self.server()
        self.waiting_for_head.add(protocol)
        asyncio.get_running_loop().call_later(self.header_timeout, self._check_head, protocol)
        return protocol

    def _check_head(self, protocol) -> None:
        if protocol in self.waiting_for_head:
            self.waiting_for_head.discard(protocol)
            protocol.force_close()

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        """A request reached a handler: its connection has sent a whole head."""
        self.waiting_for_head.discard(request.protocol)
        return await handler(request)


def _fit_descriptor_limit(max_connections: int) -> int:
    """Raise the soft descriptor limit to what `max_connections` needs (up to
    the hard limit), and lower the cap to what the limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _SPARE_DESCRIPTORS + _DESCRIPTORS_PER_CONNECTION * max_connections
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    fits = max(1, (soft - _SPARE_DESCRIPTORS) // _DESCRIPTORS_PER_CONNECTION)
    if soft != resource.RLIM_INFINITY and fits < max_connections:
        log.warning("serving at most %d connections, not %d: the descriptor limit is %d", fits, max_connections,
                    soft)
        return fits
    return max_connections


async def read_body(request: web.Request, size: int, timeout: float) -> bytes:
    """Up to `size` bytes of the request body (b"" at its end); a client that
    sends nothing for `timeout` seconds is an error (408), not a held request."""
    try:
        async with asyncio.timeout(timeout):  # no task of its own: a client gone cancels the handler as before
            return await request.content.read(size)
    except TimeoutError:
        raise web.HTTPRequestTimeout(text=f"no data from the client for {timeout:g} seconds") from None
