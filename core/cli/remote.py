"""The CLI as a client of an API service (`--url`, `--connection`, `--remote`).

When a remote flag is given, :class:`husk.cli.LazyGroup` answers each verb
with the command of the same name here, which speaks the libpod API that
`husk system service` (or podman's) serves; a verb without a remote version
says so in one line (exit 125).  Output goes through the same printers as the
local verbs (husk.cli.listing, husk.formats.template).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from urllib.parse import quote, urlencode

import click

from ..define import EXIT_ENGINE, HuskError, InvalidArgument
from .common import CONTEXT

META = "husk.remote"
#: the libpod API's path prefix (podman 4's)
LIBPOD = "/v4.0.0/libpod"


class ServiceError(HuskError):
    """What the service answered with an error status: its message, and 125
    (or podman's 1 for a missing container where the local verb says 1);
    `status` is the HTTP status (0: an error inside a stream)."""

    status = 0


class Client:
    """Requests to one service; the channel (an ssh tunnel) closes with the command."""

    def __init__(self, uri: str, identity: str = "") -> None:
        from .remote_transport import Channel

        self.channel = Channel(uri, identity)
        self.uri = uri

    def open(self, method: str, path: str, query: dict | None = None, body=None, timeout: float | None = 300):
        """The response, its status checked (an error status raises ServiceError)."""
        from .remote_transport import Connection, RemoteError

        conn = Connection(self.channel, timeout=timeout)
        target = LIBPOD + path + ("?" + urlencode(query, doseq=True) if query else "")
        headers = {}
        if body is None:
            payload = None
        elif isinstance(body, bytes) or hasattr(body, "read"):  # an archive (cp, build), sent as it is
            payload, headers["Content-Type"] = body, "application/x-tar"
        else:
            payload, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        try:
            conn.request(method, target, body=payload, headers=headers)
            response = conn.getresponse()
        except (OSError, ValueError) as exc:
            conn.close()
            if isinstance(exc, RemoteError):
                raise
            raise RemoteError(f"unable to connect to {self.uri}: {exc}") from None
        if response.status >= 400:
            data = response.read()
            conn.close()
            try:
                message = json.loads(data).get("message") or data.decode()
            except ValueError:
                message = data.decode(errors="replace").strip()
            error = ServiceError(message or f"HTTP {response.status}", exit_code=EXIT_ENGINE)
            error.status = response.status
            raise error from None
        return response

    def json(self, method: str, path: str, query: dict | None = None, body=None):
        response = self.open(method, path, query, body)
        data = response.read()
        return json.loads(data) if data else None

    def close(self) -> None:
        self.channel.close()


#: the fields of libpod's documents that are a Go time.Time (containers', images',
#: pods', volumes', secrets' and networks' (`created`) inspect)
_GO_TIMES = frozenset({"Created", "StartedAt", "FinishedAt", "CheckpointedAt", "RestoredAt", "CreatedAt", "UpdatedAt",
                       "created"})
#: maps whose keys are the user's, never a field
_MAPS = frozenset({"Labels", "Annotations", "Options", "labels", "options"})


def go_times(value):
    """A service's document with its time.Time fields as GoTime, as the local
    document holds them: a template prints them as Go's String(), as local
    inspect and podman's remote client do, where the JSON's RFC 3339 text
    printed as it came; JSON output is unchanged (a GoTime is that text)."""
    if isinstance(value, list):
        return [go_times(item) for item in value]
    if not isinstance(value, dict):
        return value
    from ..formats.timestamps import GoTime

    return {key: GoTime(item) if key in _GO_TIMES and isinstance(item, str) and item[:1].isdigit()
            else item if key in _MAPS else go_times(item) for key, item in value.items()}


def client() -> Client:
    """The command's client, made once from the remote flags (closed when the command ends)."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    settings = root.meta[META]
    if "client" not in settings:
        uri, identity = destination(settings)
        settings["client"] = made = Client(uri, identity)
        root.call_on_close(made.close)
    return settings["client"]


def destination(settings: dict) -> tuple[str, str]:
    """(URI, identity) from --url, or --connection / the default connection."""
    identity = settings.get("identity", "")
    if settings.get("url"):
        return settings["url"], identity
    from .connections import load

    connections, default = load()
    name = settings.get("connection") or default
    if not name:
        from ..engine.config import default_runroot, is_rootless

        if is_rootless():  # a rootless user's own service, in its run root
            return f"unix://{default_runroot()}/husk.sock", identity
        return "unix:///run/husk/husk.sock", identity  # `husk system service`'s default
    if name not in connections:
        raise InvalidArgument(f'connection "{name}" not found')
    entry = connections[name]
    return entry["URI"], identity or entry.get("Identity", "")


def path(kind: str, name: str, action: str = "") -> str:
    return f"/{kind}/{quote(name, safe='')}" + (f"/{action}" if action else "")


class RemoteCommand(click.Command):
    """A remote verb: a flag it lacks (that the local verb may have) is `unknown flag: -p (not supported
    remotely yet)`, 125, rather than a bare `unknown flag` that would look like a typo."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise InvalidArgument(f"unknown flag: {exc.option_name} (not supported remotely yet)") from None


# -- the verbs -----------------------------------------------------------------------------
@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="All containers, not only running ones.")
@click.option("-q", "--quiet", is_flag=True, help="Only the IDs.")
@click.option("--no-trunc", is_flag=True, help="Full IDs.")
@click.option("-n", "--noheading", "no_heading", is_flag=True, help="No header row.")
@click.option("--format", "format_", default="", help="Go template, or json.")
@click.option("-f", "--filter", "filters", multiple=True, help="KEY=VALUE, as the local verb's (the service filters).")
def ps(all_, quiet, no_trunc, no_heading, format_, filters):
    """List the service's containers."""
    from ..formats.template import format_rows
    from .listing import PS_HEADERS, PS_TABLE, _parse_filters

    documents = client().json("GET", "/containers/json", {"all": str(all_).lower(),
                                                          "filters": json.dumps(_parse_filters(filters))})
    if format_ == "json":
        click.echo(json.dumps(documents, indent=4))
        return
    import time

    now = time.time()
    rows = [_ps_row(doc, no_trunc, now) for doc in documents]
    if quiet:
        click.echo("".join(row["ID"] + "\n" for row in rows), nl=False)
        return
    click.echo(format_rows(format_ or PS_TABLE, rows, PS_HEADERS, heading=not no_heading), nl=False)


def _ps_row(doc: dict, no_trunc: bool, now: float) -> dict:
    """The `ps` row of a libpod list document (the fields of husk's local rows that it carries).
    The services' CreatedAt is a duration, Status only the health check's and Created RFC 3339,
    so these are made here from Created, State, StartedAt, ExitedAt and ExitCode: Created and
    CreatedAt as Go prints the time, as the local row's and podman's remote client's."""
    from ..formats.timestamps import format_go_time, human_duration, parse_rfc3339_ns

    command = " ".join(doc.get("Command") or [])
    if not no_trunc and len(command) > 17:
        command = command[:17] + "..."
    created = doc.get("Created") or 0
    created = parse_rfc3339_ns(created) / 1e9 if isinstance(created, str) else created
    state = doc.get("State", "")
    if state == "running":
        status = f"Up {human_duration(now - doc.get('StartedAt', now))} ago"
    elif state in ("exited", "stopped"):
        status = f"Exited ({doc.get('ExitCode', 0)}) {human_duration(now - doc.get('ExitedAt', now))} ago"
    else:
        status = state.capitalize()
    if doc.get("Status"):  # the health check's, as podman's client shows it
        status += f" ({doc['Status']})"
    created_human, created_at = f"{human_duration(now - created)} ago", format_go_time(int(created * 1e9))
    return {"ID": doc["Id"] if no_trunc else doc["Id"][:12], "Image": doc.get("Image", ""), "Command": command,
            "Created": created_at, "CreatedAt": created_at, "CreatedHuman": created_human, "RunningFor": created_human,
            "Status": status, "Ports": "", "Names": ",".join(doc.get("Names") or []), "State": doc.get("State", ""),
            "Labels": doc.get("Labels") or {}, "Pod": doc.get("Pod", ""), "PodName": doc.get("PodName", ""),
            "StartedAt": doc.get("StartedAt", _GO_ZERO), "ExitedAt": doc.get("ExitedAt", _GO_ZERO),
            "ImageID": doc.get("ImageID", ""), "Pid": doc.get("Pid", 0), "ExitCode": doc.get("ExitCode", 0),
            "Exited": doc.get("Exited", False), "AutoRemove": doc.get("AutoRemove", False),
            "Mounts": doc.get("Mounts") or [], "Networks": doc.get("Networks") or [], "Size": ""}


#: Go's zero time in Unix seconds: a list's StartedAt or ExitedAt of what never started or exited
_GO_ZERO = -62135596800


def _hijack(service: Client, target: str, body: dict | None = None):
    """POST `target` asking for the connection (`Upgrade: tcp`, as podman's and docker's clients
    do): (the socket, what arrived after the response's head)."""
    sock = service.channel.connect(timeout=None)
    payload = json.dumps(body).encode() if body is not None else b""
    kind = "Content-Type: application/json\r\n" if body is not None else ""
    sock.sendall(f"POST {LIBPOD}{target} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n{kind}"
                 f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            sock.close()
            raise ServiceError("the service closed the attach connection")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status + b" " and b" 200 " not in status + b" ":
        sock.close()
        raise ServiceError(f"attach refused: {status.decode(errors='replace')} {rest.decode(errors='replace')}")
    return sock, rest


def _terminal(service: Client, ident: str, sock, pending: bytes, interactive: bool, kind: str = "containers") -> None:
    """`run -t`, `exec -t`: our terminal raw while attached, the container's (or exec's) terminal
    sized as ours and following it (SIGWINCH)."""
    from ..presentation.terminal import follow_window_size, raw_mode, window_size

    def resize(rows: int, cols: int) -> None:
        try:
            service.open("POST", path(kind, ident, "resize"), {"h": rows, "w": cols}).read()
        except HuskError:
            pass  # the container is gone: the attach is ending anyway

    size = window_size(0) or window_size(1)
    if size and all(size):
        resize(*size)
    with raw_mode(0) if interactive else _nothing(), follow_window_size(1, resize):
        _pump(sock, pending, interactive, tty=True)


@contextlib.contextmanager
def _nothing():
    yield


def _pump(sock, pending: bytes, interactive: bool, tty: bool) -> None:
    """Our stdin into the connection (half-closed at its end; only with -i) while what the container
    writes goes to our stdout and stderr (multiplexed frames; raw from a terminal), until it ends."""
    import socket
    import threading

    def feed() -> None:
        try:
            while chunk := os.read(0, 65536):
                sock.sendall(chunk)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    if interactive:
        threading.Thread(target=feed, daemon=True).start()
    outs = {1: sys.stdout.buffer, 2: sys.stderr.buffer}
    if tty:
        outs[1].write(pending)
        while data := sock.recv(65536):
            outs[1].write(data)
            outs[1].flush()
        sock.close()
        return
    reader = _Frames(sock, pending)
    while (frame := reader.next()) is not None:
        out = outs.get(frame[0], outs[1])
        out.write(frame[1])
        out.flush()
    sock.close()


class _Frames:
    """Docker's multiplexed frames (8-byte head: stream, 0, 0, 0, length) from a socket."""

    def __init__(self, sock, pending: bytes) -> None:
        self.sock, self.buffer = sock, pending

    def _take(self, count: int) -> bytes | None:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        taken, self.buffer = self.buffer[:count], self.buffer[count:]
        return taken

    def next(self) -> tuple[int, bytes] | None:
        head = self._take(8)
        if head is None:
            return None
        body = self._take(int.from_bytes(head[4:], "big"))
        return None if body is None else (head[0], body)


def _copy_logs(service: Client, ident: str, follow: bool, tty: bool, options: dict | None = None,
               mark=None) -> None:
    """The container's log to our stdout and stderr: docker's multiplexed frames, or raw for a
    container with a terminal (known from its configuration: podman's service labels both alike).
    `options`: more of the logs route's query (tail, since, until, timestamps); `mark`: a
    husk.presentation.logs.Marker for each whole line."""
    response = service.open("GET", path("containers", ident, "logs"),
                            {"stdout": "true", "stderr": "true", "follow": str(follow).lower(), **(options or {})},
                            timeout=None)
    outs = {1: sys.stdout.buffer, 2: sys.stderr.buffer}
    chunks = ((1, chunk) for chunk in iter(lambda: response.read1(65536), b"")) if tty else _frames(response)
    for stream, data in _marked(chunks, mark) if mark else chunks:
        out = outs.get(stream, outs[1])
        out.write(data)
        out.flush()


def _frames(response):
    """(stream, data) of each of docker's multiplexed frames."""
    while len(header := response.read(8)) == 8:
        yield header[0], response.read(int.from_bytes(header[4:], "big"))


def _marked(chunks, mark):
    """`chunks` as whole lines, each marked (one write for each chunk's lines, so that followed
    containers' lines do not mix); a line with no end yet waits for it, or for the stream's end."""
    pending: dict[int, bytes] = {}
    for stream, data in chunks:
        *lines, pending[stream] = (pending.get(stream, b"") + data).split(b"\n")
        if lines:
            yield stream, b"".join(mark(line + b"\n") for line in lines)
    for stream, rest in pending.items():
        if rest:
            yield stream, mark(rest)


def show_logs(service: Client, documents: list[dict], follow: bool, options: dict, by_name: bool,
              color: bool) -> None:
    """The logs of containers (their inspect documents), marked as husk.presentation.logs says:
    one after another, or with `follow` all at once as the lines come."""
    import threading

    from ..presentation.logs import markers

    marks = markers([(doc["Id"], doc["Name"]) for doc in documents], by_name, color)
    copies = [(service, doc["Id"], follow, bool(doc["Config"].get("Tty")), options, mark)
              for doc, mark in zip(documents, marks)]
    if not follow:
        for args in copies:
            _copy_logs(*args)
        return
    threads = [threading.Thread(target=_copy_logs, args=args, daemon=True) for args in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@click.command(cls=RemoteCommand, context_settings={**CONTEXT, "allow_interspersed_args": False})
@click.option("-i", "--interactive", is_flag=True, help="Our stdin to the process's.")
@click.option("-t", "--tty", is_flag=True, help="A terminal for the process (ours raw, its size followed).")
@click.option("-e", "--env", multiple=True, help="KEY=VALUE in the process's environment.")
@click.option("-w", "--workdir", default="", help="Working directory of the process.")
@click.option("-u", "--user", default="", help="User of the process.")
@click.argument("container")
@click.argument("command", nargs=-1, required=True)
def exec_(interactive, tty, env, workdir, user, container, command):
    """Run a process in a running container on the service; its exit code is ours."""
    service = client()
    created = service.json("POST", path("containers", container, "exec"), body={
        "Cmd": list(command), "Env": list(env), "WorkingDir": workdir, "User": user, "Tty": tty,
        "AttachStdin": interactive, "AttachStdout": True, "AttachStderr": True})
    ident = created["Id"]
    sock, pending = _hijack(service, path("exec", ident, "start"), {"Detach": False, "Tty": tty})
    if tty:
        _terminal(service, ident, sock, pending, interactive, kind="exec")
    else:
        _pump(sock, pending, interactive, tty=False)
    raise SystemExit(service.json("GET", path("exec", ident, "json")).get("ExitCode") or 0)


exec_.name = "exec"


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the container stops.")
@click.option("--tail", default="all", help="Only the last N lines (all: every line).")
@click.option("--since", default="", help="Lines after this time (RFC 3339, Unix time or a duration).")
@click.option("--until", default="", help="Lines before this time.")
@click.option("-t", "--timestamps", is_flag=True, help="Each line's time first.")
@click.option("-n", "--names", "by_name", is_flag=True, help="Each line's container by name, not ID.")
@click.option("--color", is_flag=True, help="Each container's lines in a colour of their own.")
@click.argument("names", nargs=-1, required=True)
def logs(follow, tail, since, until, timestamps, by_name, color, names):
    """Print containers' logs (with several, each line marked with its container)."""
    service = client()
    documents = [service.json("GET", path("containers", name, "json")) for name in names]
    options = {"tail": tail, "timestamps": str(timestamps).lower(), "since": since, "until": until}
    show_logs(service, documents, follow, {key: value for key, value in options.items() if value}, by_name, color)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-f", "--format", "format_", default="", help="Go template applied to each result.")
@click.argument("names", nargs=-1, required=True)
def inspect(format_, names):
    """Show containers' (or images') configuration and state as JSON."""
    from .listing import print_inspected

    service = client()

    def document(name: str) -> dict:
        try:
            return go_times(service.json("GET", path("containers", name, "json")))
        except ServiceError:
            try:
                return go_times(service.json("GET", path("images", name, "json")))
            except ServiceError:
                raise ServiceError(f"inspecting object: no such object: \"{name}\"") from None

    print_inspected(names, document, format_, "define.InspectContainerData", indent=5)  # as the local inspect


def _each(names, action) -> None:
    """`action(name)` for each name: what it returns (the name when it returns bytes or None) on
    stdout, or one Error line (exit 125 at the end)."""
    code = 0
    for name in names:
        try:
            said = action(name)
            click.echo(name if said is None or isinstance(said, bytes) else said)
        except ServiceError as exc:
            click.echo(f"Error: {exc}", err=True)
            code = exc.exit_code
    if code:
        raise SystemExit(code)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds before SIGKILL.")
@click.argument("names", nargs=-1, required=True)
def stop(timeout, names):
    """Stop containers."""
    service = client()
    query = {"timeout": timeout} if timeout is not None else None
    _each(names, lambda name: service.open("POST", path("containers", name, "stop"), query).read())


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Stop running containers first.")
@click.argument("names", nargs=-1, required=True)
def rm(force, names):
    """Remove containers."""
    service = client()
    _each(names, lambda name: service.open("DELETE", path("containers", name), {"force": str(force).lower()}).read())


def _action(name: str, doc: str) -> click.Command:
    """A verb that POSTs /containers/NAME/ACTION for each name (start, restart, pause, unpause)."""
    @click.command(name, cls=RemoteCommand, context_settings=CONTEXT, help=doc)
    @click.argument("names", nargs=-1, required=True)
    def verb(names):
        service = client()
        _each(names, lambda each: service.open("POST", path("containers", each, name)).read())
    return verb


start = _action("start", "Start containers.")
restart = _action("restart", "Restart containers.")
pause = _action("pause", "Pause containers.")
unpause = _action("unpause", "Unpause containers.")


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-s", "--signal", "signal_", default="KILL", show_default=True, help="The signal to send.")
@click.argument("names", nargs=-1, required=True)
def kill(signal_, names):
    """Send a signal to containers."""
    service = client()
    _each(names, lambda name: service.open("POST", path("containers", name, "kill"), {"signal": signal_}).read())


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
def wait(names):
    """Print each container's exit code once it stops."""
    service = client()
    _each(names, lambda name: str(service.json("POST", path("containers", name, "wait"), {"condition": "stopped"})))


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Remove the image's containers too.")
@click.argument("names", nargs=-1, required=True)
def rmi(force, names):
    """Remove images: podman's Untagged: and Deleted: lines."""
    service = client()

    def remove(name: str) -> str:
        report = service.json("DELETE", path("images", name), {"force": str(force).lower()})
        return "\n".join([f"Untagged: {each}" for each in report.get("Untagged") or []]
                         + [f"Deleted: {each}" for each in report.get("Deleted") or []])
    _each(names, remove)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-q", "--quiet", is_flag=True, help="Only the IDs.")
@click.option("--format", "format_", default="", help="Go template, or json.")
@click.option("-n", "--noheading", "no_heading", is_flag=True, help="No header row.")
@click.option("--no-trunc", is_flag=True, help="Full IDs.")
@click.option("-f", "--filter", "filters", multiple=True, help="KEY=VALUE, as the local verb's (the service applies them).")
@click.option("--sort", default="created", help="created (default), id, repository, size or tag.")
def images(quiet, format_, no_heading, no_trunc, filters, sort):
    """List the service's images (its libpod list, in the local verb's rows and json)."""
    from ..presentation.image_filters import reference_rows, sort_rows
    from .image import IMAGES_TABLE, image_rows, is_json, list_documents, print_images

    wanted: dict[str, list[str]] = {}
    for item in filters:
        key, _, value = item.partition("=")
        wanted.setdefault(key, []).append(value)
    documents = client().json("GET", "/images/json", {"filters": json.dumps(wanted)} if wanted else None) or []
    sizes = {image["Id"] if no_trunc else image["Id"][:12]: image["Size"] for image in documents}
    rows = sort_rows(reference_rows(image_rows(documents, no_trunc), filters), sort, sizes)
    if is_json(format_) and not quiet:
        click.echo(json.dumps(list_documents(documents, rows, no_trunc), indent=4))
        return
    print_images(rows, quiet, format_ or IMAGES_TABLE, not no_heading)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-q", "--quiet", is_flag=True, help="Only the image's ID.")
@click.argument("reference")
def pull(quiet, reference):
    """Pull an image into the service's store."""
    _pull(client(), reference, quiet, sys.stdout)


def _pull(service: Client, reference: str, quiet: bool, out) -> None:
    """libpod's pull: progress lines (to `out` unless quiet), then the image's ID on stdout."""
    response = service.open("POST", "/images/pull", {"reference": reference, "quiet": str(quiet).lower()},
                            timeout=None)
    ident = ""
    for line in response:
        message = json.loads(line)
        if message.get("error"):
            raise ServiceError(message["error"])
        if message.get("stream") and not quiet:
            out.write(message["stream"])
        ident = message.get("id") or ident
    if out is sys.stdout or quiet:
        click.echo(ident)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-f", "--format", "format_", default="", help="Go template, or json.")
def version(format_):
    """This client's version and the service's."""
    from .system import _version_document, print_version, side_text

    document = _version_document()
    served = client().json("GET", "/version")
    engine = next(iter(served.get("Components") or []), {})
    details = engine.get("Details") or {}  # the libpod API's version is its engine's, not Docker's ApiVersion
    document["Server"] = {"APIVersion": details.get("APIVersion") or served.get("ApiVersion", ""),
                          "Version": served.get("Version", ""), "GoVersion": served.get("GoVersion", ""),
                          "BuiltTime": details.get("BuildTime") or served.get("BuildTime", ""),
                          "OsArch": f"{served.get('Os', '')}/{served.get('Arch', '')}", "Os": served.get("Os", ""),
                          "GitCommit": served.get("GitCommit", ""), "Built": 0}
    # husk's service names its engine component as podman's client looks it up; its platform says husk
    name = "husk" if (served.get("Platform") or {}).get("Name") == "husk" else engine.get("Name") or "husk"
    print_version(document, format_, side_text("Client", "husk", document["Client"]) + "\n\n"
                  + side_text("Server", name, document["Server"]))


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-f", "--format", "format_", default="", help="Go template, or json.")
def info(format_):
    """The service's host, store and version (its libpod /info), as the local verb prints them."""
    from .system import print_info

    print_info(client().json("GET", "/info"), format_)


COMMANDS = {command.name: command for command in (info, ps, logs, inspect, start, stop, restart, kill, wait, pause,
                                                   unpause, rm, images, pull, rmi, version, exec_)}

