"""`husk system service`: start-up, the listening socket, idle shutdown, draining.

One aiohttp application serves the Docker routes (and, under `/v*/libpod`, the
libpod ones).  The unix socket is created 0660 (umask set around the bind, so
there is no moment it is wider); a socket that answers is another service, and
husk refuses to start on it; a dead one is replaced.  `--time N` stops the
service after N idle seconds (0: never).  SIGTERM or SIGINT stop listening,
let requests in flight finish (long streams are told to end), then exit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import gc
import logging
import os
import signal
import socket
import stat
import sys
import time
from typing import TYPE_CHECKING

from ..define import HuskError, InvalidArgument

if TYPE_CHECKING:
    import ssl

    from ..engine.runtime import Runtime

DEFAULT_URI = "unix:///run/husk/husk.sock"
DEFAULT_IDLE_SECONDS = 5
#: how long in-flight requests get to finish at shutdown
DRAIN_SECONDS = 10.0
#: how long the rest of a refused request's body is read (and dropped) before the connection is closed
LINGER_SECONDS = 1.0
#: worker threads for blocking engine calls (waits and streams hold none: see husk.api.watch)
WORKER_THREADS = 128

log = logging.getLogger("husk.api")


@dataclasses.dataclass(frozen=True)
class ServiceOptions:
    """What `husk system service` was told beyond where to listen (see docs/cli.md)."""

    #: origins whose requests (browsers' `Origin` header) are served; `*`: any; empty: none
    cors: frozenset[str] = frozenset()
    #: serve TCP beyond loopback, without authentication
    insecure_tcp: bool = False
    header_timeout: float = 10.0
    idle_timeout: float = 60.0
    max_connections: int = 4096
    #: TLS on a tcp:// listener: the server's certificate and key (PEM files)
    tls_cert: str = ""
    tls_key: str = ""
    #: CA whose client certificates are required (mutual TLS: the only authentication)
    tls_client_ca: str = ""

    def check(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise InvalidArgument("--tls-cert and --tls-key go together")
        if self.tls_client_ca and not self.tls_cert:
            raise InvalidArgument("--tls-client-ca needs --tls-cert and --tls-key")
        for name in ("header_timeout", "idle_timeout"):
            if not getattr(self, name) > 0:
                raise InvalidArgument(f"invalid --{name.replace('_', '-')} {getattr(self, name)}: "
                                      "must be more than 0 seconds")
        if self.max_connections < 1:
            raise InvalidArgument(f"invalid --max-connections {self.max_connections}: must be 1 or more")


class Activity:
    """Requests in flight and the time the last one ended: what idle shutdown looks at."""

    def __init__(self) -> None:
        self.active = 0
        self.last = time.monotonic()

    def idle_for(self) -> float:
        return 0.0 if self.active else time.monotonic() - self.last


def parse_uri(uri: str) -> tuple[str, str]:
    """("unix", path) or ("tcp", "host:port")."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in ("unix", "tcp") or not rest:
        raise InvalidArgument(f"invalid listen address {uri!r}: use unix:///path or tcp://host:port")
    if scheme == "unix":
        if not rest.startswith("/"):
            raise InvalidArgument(f"invalid listen address {uri!r}: the socket path must be absolute")
        return scheme, rest
    host, _, port = rest.rpartition(":")
    if not host or not (port.isascii() and port.isdigit() and len(port) <= 5) or not 0 < int(port) < 65536:
        raise InvalidArgument(f"invalid listen address {uri!r}: use tcp://host:port")
    return scheme, rest


def unix_listener(path: str) -> socket.socket:
    """A listening unix socket at `path`, mode 0660; refuses a path another service answers on."""
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise HuskError(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # left behind by a service that died
        else:
            raise HuskError(f"{path} is in use by another service")
        finally:
            probe.close()
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    from ..monitor import listen_unix

    bound, _, holder = listen_unix(path, socket.SOCK_STREAM, mode=0o660, backlog=128)
    for dirfd in holder:
        os.close(dirfd)
    return socket.socket(fileno=bound)  # the monitor's is a descriptor


def systemd_listener() -> socket.socket | None:
    """The listening socket systemd passed in (socket activation), or None.

    systemd sets LISTEN_PID to the service's pid and LISTEN_FDS to how many
    sockets it passed, starting at fd 3; husk takes the first.  The variables
    are removed so that nothing husk starts (monitors, hooks) believes them too.
    """
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS", "0") in ("", "0"):
        return None
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    try:
        listener = socket.socket(fileno=3)
    except OSError as exc:
        raise HuskError(f"socket activation: fd 3 is not a socket: {exc.strerror}") from None
    if listener.type != socket.SOCK_STREAM:
        raise HuskError("socket activation: fd 3 is not a stream socket (use ListenStream=)")
    os.set_inheritable(3, False)
    return listener


class _OneLineProtocolErrors(logging.Filter):
    """aiohttp logs each malformed request (bad request line, bad chunk size...)
    with a traceback; it is the client's fault and already answered 400, so one
    line says enough, and a client cannot fill the log with tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg, record.args = "malformed request: %s", (" ".join(str(exc.message).split())[:200],)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def make_app(runtime: "Runtime", options: ServiceOptions = ServiceOptions(), middlewares=()):
    from aiohttp import web

    from .errors import error_middleware
    from .guards import add_origin_guard, http_1_only
    from .keys import ACTIVITY, BODY_TIMEOUT, RUNTIME, WATCHER
    from .watch import Watcher

    activity = Activity()

    @web.middleware
    async def track(request, handler):
        activity.active += 1
        try:
            return await handler(request)
        finally:
            activity.active -= 1
            activity.last = time.monotonic()

    app = web.Application(middlewares=[*middlewares, track, error_middleware], client_max_size=4 * 1024 * 1024)
    add_origin_guard(app, options.cors)
    app.middlewares.insert(0, http_1_only)
    app[RUNTIME] = runtime
    app[ACTIVITY] = activity
    app[WATCHER] = watcher = Watcher()
    app.on_startup.append(watcher.start)
    app.on_cleanup.append(watcher.close)
    app[BODY_TIMEOUT] = options.idle_timeout
    add_routes(app)
    return app


#: The route table: the modules whose routes the service serves.  A module may
#: define `routes` (Docker paths, served with and without the /v1.NN prefix),
#: `libpod_routes` (served under /vN.N.N/libpod) and `setup(app)` (its shared
#: objects).  A new group of routes is a new module named here; route modules
#: never import one another's registration.
ROUTE_MODULES = ("docker", "execs", "libpod", "libpod_containers", "images", "changes", "files", "registry",
                 "image_ops", "build", "networks", "volumes", "stats", "disk",
                 "secrets", "pods", "kube", "manifests", "openapi")
DOCKER_PREFIX = r"/v{version:[0-9]+\.[0-9]+}"
LIBPOD_PREFIX = r"/v{libpod_version:[0-9]+\.[0-9]+(?:\.[0-9]+)?}/libpod"


def add_routes(app) -> None:
    """Every route of every module in ROUTE_MODULES."""
    import importlib

    for name in ROUTE_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        if hasattr(module, "setup"):
            module.setup(app)
        for route in getattr(module, "routes", ()):
            _add(app, route, (route.path, DOCKER_PREFIX + route.path))
        for route in getattr(module, "libpod_routes", ()):
            _add(app, route, (LIBPOD_PREFIX + route.path,))


def _add(app, route, paths) -> None:
    for path in paths:
        if route.method == "GET":
            app.router.add_get(path, route.handler)  # HEAD too (docker pings with HEAD)
        else:
            app.router.add_route(route.method, path, route.handler)


async def _serve(runtime: "Runtime", uri: str, idle_seconds: float, inherited: socket.socket | None,
                 options: ServiceOptions, tls: "ssl.SSLContext | None") -> None:
    from aiohttp import web

    from .connections import Doorman
    from .keys import ACTIVITY, WATCHER

    scheme, address = parse_uri(uri)
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="husk-api"))
    doorman = Doorman(options.header_timeout, options.max_connections)
    app = make_app(runtime, options, [doorman.middleware])
    runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True, shutdown_timeout=DRAIN_SECONDS,
                           access_log=None, keepalive_timeout=options.idle_timeout,
                           lingering_time=LINGER_SECONDS)
    await runner.setup()
    doorman.server = runner.server
    accept = doorman
    if tls is not None:
        from .tls import protocol_factory

        accept = protocol_factory(doorman, tls, options.header_timeout)
    if inherited is not None:  # systemd owns the socket: `uri` only says where it is
        listening = await loop.create_server(accept, sock=inherited)
    elif scheme == "unix":
        listening = await loop.create_server(doorman, sock=unix_listener(address))
    else:
        host, _, port = address.rpartition(":")
        listening = await loop.create_server(accept, host.strip("[]"), int(port), reuse_address=True)
    done = asyncio.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, done.set)
    # Everything loaded so far (modules, the app, the store) lives as long as
    # the service: frozen, it is left out of the collector's full passes, which
    # otherwise walk it every few dozen requests and add milliseconds to them.
    gc.freeze()
    try:
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), timeout=1.0)
            except asyncio.TimeoutError:
                if idle_seconds and app[ACTIVITY].idle_for() >= idle_seconds:
                    break
    finally:
        # Stop listening and let requests in flight finish; streams that would
        # never end by themselves (events, followed logs, waits) are told to
        # end halfway through the drain time, and what remains is cancelled.
        loop.call_later(DRAIN_SECONDS / 2, app[WATCHER].stop)
        listening.close()
        await runner.cleanup()
        if scheme == "unix" and inherited is None:
            try:
                os.unlink(address)
            except FileNotFoundError:
                pass


def serve(runtime: "Runtime", uri: str = DEFAULT_URI, idle_seconds: float = DEFAULT_IDLE_SECONDS,
          options: ServiceOptions = ServiceOptions()) -> None:
    """Run the service until SIGTERM/SIGINT or `idle_seconds` without requests (0: never).

    Started by systemd socket activation (contrib/systemd), it serves the
    socket it inherits instead of binding `uri`, and leaves it in place at exit.
    """
    scheme, address = parse_uri(uri)  # a bad address fails before anything starts
    if idle_seconds < 0:
        raise InvalidArgument(f"invalid --time {idle_seconds}: must be 0 or more seconds")
    options.check()
    inherited = systemd_listener()
    if options.tls_cert and scheme != "tcp":
        raise InvalidArgument(f"--tls-cert needs a tcp:// listener, not {uri}")
    tls = None
    if options.tls_cert:
        from .tls import context

        tls = context(options.tls_cert, options.tls_key, options.tls_client_ca)
    if scheme == "tcp" and inherited is None:
        from .guards import check_tcp_host

        check_tcp_host(address.rpartition(":")[0], options.insecure_tcp, bool(options.tls_client_ca))
    from ..define import logger

    logger()  # the CLI's handler on "husk" now: the service logs from the start
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.server").addFilter(_OneLineProtocolErrors())
    runtime.store  # open the store and refresh after a reboot now, not in the first request
    runtime.plugins
    asyncio.run(_serve(runtime, uri, idle_seconds, inherited, options, tls))
