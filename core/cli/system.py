"""System verbs: version, info, events, system service."""

from __future__ import annotations

from typing import TYPE_CHECKING

import json
import os
import platform
import sys

import click

from .. import __version__
from ..define import HuskError
from .common import CONTEXT

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

API_VERSION = "4.9.0"


def _version_document() -> dict:
    from ..presentation.host_info import build_time

    built, built_time = build_time()
    side = {"APIVersion": API_VERSION, "Version": __version__, "GoVersion": f"python{platform.python_version()}",
            "GitCommit": "", "BuiltTime": built_time, "Built": built, "OsArch": f"linux/{_arch()}", "Os": "linux"}
    return {"Client": side, "Server": dict(side)}


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


@click.command(context_settings=CONTEXT)
@click.option("-f", "--format", "format_", default="", help="Go template, or json.")
def version(format_):
    """Show husk's version."""
    document = _version_document()
    print_version(document, format_, side_text("Client", "husk", document["Client"]))


def print_version(document: dict, format_: str, text: str) -> None:
    """`version`'s output, local and remote alike: the document as JSON, through the template, or
    `text` (podman's lines)."""
    if format_ == "json":
        click.echo(json.dumps(document, indent=4))
    elif format_:
        from ..formats.gofmt import as_struct
        from ..formats.template import render

        click.echo(render(format_, as_struct(document, "define.Version")))
    else:
        click.echo(text)


def side_text(title: str, name: str, side: dict) -> str:
    """One side of `version`, podman's lines in its order (its Go Version line: the Python husk runs
    on); a remote `version` prints the service's side after the client's."""
    return (f"{title + ':':<14}{name}\nVersion:      {side['Version']}\nAPI Version:  {side['APIVersion']}\n"
            f"Go Version:   {side['GoVersion']}\nBuilt:        {side['BuiltTime']}\nOS/Arch:      {side['OsArch']}")


def _info_document(runtime: "Runtime") -> dict:
    from ..define import State

    plugins = runtime.plugins
    backends = {}
    for name in sorted(plugins.runtimes):
        backends[name] = runtime.oci_runtime(name).describe()
    try:
        default = runtime.oci_runtime().describe()
    except HuskError as exc:  # e.g. the default runtime's plugin is disabled
        default = {"Name": runtime.default_runtime, "Path": "", "Version": f"unavailable: {exc}"}
    states = [c.state.state for c in runtime.containers(errors=[])]
    from ..engine import security
    from ..engine.spec import DEFAULT_CAPABILITIES

    uname = os.uname()
    return {
        "Host": {
            "Arch": _arch(), "Hostname": uname.nodename, "Kernel": uname.release, "OS": "linux",
            "CgroupVersion": "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1",
            "CgroupMode": _cgroup_mode(), "CRIU": _criu(),
            "EventLogger": runtime.events_backend, "LogDriver": "k8s-file",
            "OCIRuntime": {"Name": default["Name"], "Path": default["Path"], "Version": default["Version"],
                           "Package": ""},
            "Security": security.host_document(DEFAULT_CAPABILITIES),
        },
        "Python": {"Version": platform.python_version(), "Executable": sys.executable,
                   "Interpreter": os.path.realpath(sys.executable)},
        "Store": {
            "GraphRoot": runtime.paths.root, "RunRoot": runtime.paths.runroot, "GraphDriverName": "overlay",
            "ContainerStore": {"number": len(states), "running": states.count(State.RUNNING),
                               "paused": states.count(State.PAUSED),
                               "stopped": len(states) - states.count(State.RUNNING) - states.count(State.PAUSED)},
            "ImageStore": {"number": len(runtime.store.images())},
        },
        "Plugins": {"Loaded": dict(sorted(plugins.versions.items())), "Failed": dict(plugins.failed)},
        "Runtimes": backends,
        "Version": _version_document()["Server"],
    }


def _cgroup_mode() -> str:
    """unified (v2 only), hybrid (v1 hierarchies plus a v2 one at unified/) or legacy (v1 only)."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "unified"
    return "hybrid" if os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers") else "legacy"


def _criu() -> dict:
    """CRIU's path, version and whether `criu check` passes here, for a bug report."""
    import shutil
    import subprocess

    path = shutil.which("criu")
    if path is None:
        return {"Path": "", "Version": "", "Checkpoints": "no: criu is not installed"}
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        check = subprocess.run([path, "check"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"Path": path, "Version": "", "Checkpoints": f"no: {exc}"}
    version = version.split("Version:", 1)[-1].split()[0] if "Version:" in version else version.strip()
    if os.geteuid() != 0:
        verdict = "unknown: criu check needs root"
    elif check.returncode == 0:
        verdict = "yes"
    else:
        lines = (check.stderr + check.stdout).strip().splitlines()
        verdict = f"no: {lines[-1] if lines else f'criu check exited {check.returncode}'}"
    return {"Path": path, "Version": version, "Checkpoints": verdict}


def _yaml(value, indent: int = 0) -> str:
    """Enough YAML for `info`'s nested mappings (podman prints info as YAML)."""
    pad = "  " * indent
    lines = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{pad}{key}:" + (" {}" if not item else ""))
            if item:
                lines.append(_yaml(item, indent + 1))
        elif isinstance(item, list):  # podman's block sequences (CgroupControllers, Plugins.Volume)
            lines.append(f"{pad}{key}:" + ("" if item else " []"))
            lines += [f"{pad}  - {json.dumps(entry) if isinstance(entry, str) else entry}" for entry in item]
        else:
            lines.append(f"{pad}{key}: {json.dumps(item) if isinstance(item, (str, bool)) or item is None else item}")
    return "\n".join(lines)


@click.command(context_settings=CONTEXT)
@click.option("-f", "--format", "format_", default="", help="Go template, or json.")
@click.pass_obj
def info(session, format_):
    """Show the host, the store, the loaded plugins and runtimes."""
    from ..presentation.host_info import podman_info_fields

    document = _info_document(session.runtime)
    podman_info_fields(session.runtime, document)
    print_info(document, format_)


def print_info(document: dict, format_: str) -> None:
    """`info`'s document (local, or a service's libpod one) as YAML, JSON or through a template."""
    from ..presentation.host_info import with_go_names

    if format_ == "json":
        click.echo(json.dumps(document, indent=4))
    elif format_:
        from ..formats.gofmt import as_struct
        from ..formats.template import render

        maps = frozenset({"Loaded", "Failed", "Runtimes", "GraphStatus", "GraphOptions", "Registries"})
        click.echo(render(format_, as_struct(with_go_names(document), "define.Info", maps)))
    else:
        click.echo(_yaml(document))


def events_options(function):
    """The flags of `events`, local and remote (husk.cli.remote_containers)."""
    for option in reversed([
            click.option("--since", default=None, help="Events after this time (RFC3339, Unix time or duration)."),
            click.option("--until", default=None, help="Events before this time; the stream ends there."),
            click.option("-f", "--filter", "filters", multiple=True,
                         help="type=, container=, event=, label=, image=."),
            click.option("--format", "format_", default="", help="Go template, or json."),
            click.option("--stream", type=click.BOOL, default=True, is_flag=False, flag_value=True,
                         help="Keep streaming new events (default); --stream=false prints what is stored and ends."),
            click.option("--no-trunc", type=click.BOOL, default=True, is_flag=False, flag_value=True,
                         help="Full ids (default); --no-trunc=false: 12 characters.")]):
        function = option(function)
    return function


@click.command(context_settings=CONTEXT)
@events_options
@click.pass_obj
def events(session, since, until, filters, format_, stream, no_trunc):
    """Show events (streams new ones until interrupted, unless --stream=false or --until)."""
    from ..state.events import parse_filter_args
    from ..formats.timestamps import parse_time, parse_until

    parsed = parse_filter_args(list(filters))
    since_t = parse_time(since) if since else None
    until_t = parse_until(until) if until else None
    log = session.runtime.events
    reader = log.follow if stream else log.read
    print_events(reader(since=since_t, until=until_t, filters=parsed), format_, no_trunc)


def print_events(found, format_: str, no_trunc: bool) -> None:
    """Events as podman prints them (its line, json, or a template), each flushed as it comes."""
    from ..state.events import format_line, to_json_line, to_template_data
    from ..formats.gofmt import GoStruct

    template = None
    if format_ and format_ != "json":
        from ..formats.template import compile as compile_template

        template = compile_template(format_)
    out = sys.stdout
    for event in found:
        if not no_trunc and len(event.id) == 64:
            event.id = event.id[:12]
        if format_ == "json":
            out.write(to_json_line(event) + "\n")
        elif template is not None:
            out.write(template.render(GoStruct(to_template_data(event), "events.Event")) + "\n")
        else:
            out.write(format_line(event) + "\n")
        out.flush()


@click.command(context_settings=CONTEXT)
@click.option("-t", "--time", "idle_seconds", type=int, default=5, show_default=True,
              help="Seconds without requests before the service exits (0: never).")
@click.option("--cors", default="",
              help="Serve requests from these web origins (comma-separated; *: any). Others are refused.")
@click.option("--insecure-tcp", is_flag=True,
              help="Allow tcp:// beyond loopback: no authentication, whoever connects is root.")
@click.option("--tls-cert", default="", help="tcp:// over TLS: the server's certificate (PEM).")
@click.option("--tls-key", default="", help="tcp:// over TLS: the server's private key (PEM).")
@click.option("--tls-client-ca", default="",
              help="Require client certificates signed by this CA (PEM): mutual TLS, as dockerd --tlsverify.")
@click.option("--header-timeout", type=float, default=10.0, show_default=True,
              help="Seconds a new connection has to send a whole request head.")
@click.option("--idle-timeout", type=float, default=60.0, show_default=True,
              help="Seconds a connection may wait between requests, or a request body may stall.")
@click.option("--max-connections", type=int, default=4096, show_default=True,
              help="Connections served at once; more are answered 503.")
@click.argument("uri", required=False)
@click.pass_obj
def service(session, idle_seconds, cors, insecure_tcp, tls_cert, tls_key, tls_client_ca, header_timeout,
            idle_timeout, max_connections, uri):
    """Serve the Docker and libpod REST APIs on URI (unix:///path or tcp://host:port; default
    unix:///run/husk/husk.sock, a rootless user's unix://$XDG_RUNTIME_DIR/husk/husk.sock)."""
    import gc

    from .lean_imports import uninstall

    # first, before msgspec is imported: the service lives long, so Python's own collector
    # threshold (cycles a request leaves collected as Python collects them: husk.cli's 50,000
    # is for a command's short life) and the real decimal and uuid for msgspec (husk.cli.lean_imports)
    gc.set_threshold(700, 10, 10)
    uninstall()
    from ..api.guards import parse_cors
    from ..api.server import DEFAULT_URI, ServiceOptions, serve
    from ..engine.config import is_rootless

    if not uri:  # a rootless user's own socket, in its run root
        uri = f"unix://{os.path.join(session.runtime.paths.runroot, 'husk.sock')}" if is_rootless() else DEFAULT_URI

    options = ServiceOptions(cors=parse_cors(cors), insecure_tcp=insecure_tcp, header_timeout=header_timeout,
                             idle_timeout=idle_timeout, max_connections=max_connections, tls_cert=tls_cert,
                             tls_key=tls_key, tls_client_ca=tls_client_ca)
    serve(session.runtime, uri, idle_seconds, options)


@click.command("unshare", context_settings={**CONTEXT, "ignore_unknown_options": True,
                                             "allow_interspersed_args": False})
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def unshare(session, command):
    """Run COMMAND (default: $SHELL) in the rootless user's namespace, as its root: where husk's mounts
    are and its files are the namespace's (podman's unshare; CONTAINERS_GRAPHROOT and
    CONTAINERS_RUNROOT name the roots)."""
    from ..engine.config import is_rootless

    if not is_rootless():
        raise HuskError("please use unshare with rootless")
    paths = session.runtime.paths  # joins the namespace
    argv = list(command) or [os.environ.get("SHELL") or "/bin/sh"]
    env = {**os.environ, "CONTAINERS_GRAPHROOT": paths.root, "CONTAINERS_RUNROOT": paths.runroot}
    sys.stdout.flush()
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        raise HuskError(f"exec: {argv[0]}: executable file not found in $PATH", exit_code=127) from None
    except PermissionError:
        raise HuskError(f"exec: {argv[0]}: permission denied", exit_code=126) from None


def register(group: click.Group) -> None:
    system_group = click.Group("system", help="Manage husk itself.", context_settings=CONTEXT)
    system_group.add_command(info)
    system_group.add_command(events)
    system_group.add_command(service)
    group.add_command(system_group)
    for command in (version, info, events, unshare):
        group.add_command(command)
