"""TLS on the service's tcp:// listener (issue 18): the server's context, and a
TLS protocol that lets a hijacked stream outlive the client's half-close.

A docker client ends a container's stdin by closing its side of the connection
(Go's tls.Conn.CloseWrite sends close_notify) and then reads the output.
asyncio's TLS layer (3.11) shuts the whole connection down at a close_notify,
whatever the protocol's eof_received answers, so `docker run` over TLS lost
all its output.  :class:`HalfCloseTLS` keeps the connection open when the
protocol (the hijacked stream, :mod:`husk.api.hijack`) asks to, as the plain
transport does.  It leans on two private methods of asyncio.sslproto: the
tests in tests/integration/test_api_tls.py drive it through docker and the SDK.
"""

from __future__ import annotations

import ssl
from asyncio import sslproto

from ..define import InvalidArgument


def context(cert: str, key: str, client_ca: str) -> ssl.SSLContext:
    """The server's TLS context; with `client_ca` a client must present a
    certificate that CA signed (mutual TLS, as dockerd's --tlsverify)."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        tls.load_cert_chain(cert, key)
        if client_ca:
            tls.load_verify_locations(client_ca)
            tls.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(filter(None, (cert, key, client_ca)))
        raise InvalidArgument(f"cannot load the TLS files ({files}): "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
    return tls


class HalfCloseTLS(sslproto.SSLProtocol):
    """SSLProtocol that honours a true answer from the app protocol's eof_received."""

    _keep_open = False

    def _call_eof_received(self) -> None:
        if self._app_state != sslproto.AppProtocolState.STATE_CON_MADE:
            return
        self._app_state = sslproto.AppProtocolState.STATE_EOF
        try:
            self._keep_open = bool(self._app_protocol.eof_received())
        except Exception as exc:  # as asyncio's own: the connection fails, the service goes on
            self._fatal_error(exc, "Error calling eof_received()")

    def _start_shutdown(self) -> None:
        if self._keep_open:  # the shutdown that follows the peer's close_notify
            self._keep_open = False
            return
        super()._start_shutdown()


def protocol_factory(make_protocol, tls: ssl.SSLContext, handshake_timeout: float):
    """What loop.create_server takes in place of `make_protocol` and ssl=`tls`."""
    import asyncio

    def make() -> HalfCloseTLS:
        return HalfCloseTLS(asyncio.get_running_loop(), make_protocol(), tls, None, server_side=True,
                            ssl_handshake_timeout=handshake_timeout)
    return make
