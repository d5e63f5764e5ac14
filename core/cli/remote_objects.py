"""Remote verbs on the service's other objects (see :mod:`husk.cli.remote`): the pod (with its
logs and stats), network, volume and secret groups, and build and push, as podman-remote has them.  Lists and inspects
print the service's libpod documents through the local verbs' tables and templates.
"""

from __future__ import annotations

import json
import os
import sys

import click

from ..define import InvalidArgument
from .common import CONTEXT
from .remote import RemoteCommand, ServiceError, _each, client, go_times, path


def _group(name: str, doc: str, *commands: click.Command) -> click.Group:
    group = click.Group(name, help=doc, context_settings=CONTEXT)
    for command in commands:
        group.add_command(command)
    return group


def _list_options(function):
    """The flags a remote list verb shares with the local one (the local verb's printer prints)."""
    for option in reversed([
            click.option("--format", "format_", default="", help="Go template, table, or json."),
            click.option("-q", "--quiet", is_flag=True, help="Only the names (IDs for pods and secrets)."),
            click.option("-n", "--noheading", "no_heading", is_flag=True, help="No header row.")]):
        function = option(function)
    return function


def _documents(kind: str, filters: tuple[str, ...] = ()) -> list[dict]:
    """The service's list of `kind`s, filtered there (KEY=VALUE, as the local verb's)."""
    from .volume import _filters

    documents = client().json("GET", f"/{kind}s/json", {"filters": json.dumps(_filters(filters))} if filters else None)
    return go_times(documents or [])


def _inspect(kind: str, struct: str, indent: int = 5, message: str = "inspecting object: ", **printing) -> click.Command:
    """A group's `inspect`: the service's documents printed by the local verb's printer
    (listing.print_inspected, with the local verb's `message`, `indent` and `printing` options)."""
    @click.command("inspect", cls=RemoteCommand, context_settings=CONTEXT, help=f"Show {kind}s as JSON.")
    @click.option("-f", "--format", "format_", default="", help="Go template, or json.")
    @click.argument("names", nargs=-1, required=True)
    def inspect(format_, names):
        from .listing import print_inspected

        service = client()
        print_inspected(names, lambda name: go_times(service.json("GET", path(f"{kind}s", name, "json"))), format_,
                        struct, message, indent, **printing)
    return inspect


def _exists(kind: str) -> click.Command:
    @click.command("exists", cls=RemoteCommand, context_settings=CONTEXT, help=f"Exit 0 if the {kind} exists, else 1.")
    @click.argument("name")
    def exists(name):
        try:
            client().open("GET", path(f"{kind}s", name, "exists")).read()
        except ServiceError:
            raise SystemExit(1) from None
    return exists


def _prune(kind: str, key: str) -> click.Command:
    """A group's `prune`: what the service removed, one a line (its `key`)."""
    @click.command("prune", cls=RemoteCommand, context_settings=CONTEXT, help=f"Remove the service's unused {kind}s.")
    @click.option("-f", "--force", is_flag=True, help="Do not ask (remotely, never asked).")
    def prune(force):
        for report in client().json("POST", f"/{kind}s/prune") or []:
            click.echo(report[key])
    return prune


# -- pods -----------------------------------------------------------------------------------
def _pod_action(action: str, doc: str, *, signal: bool = False, timeout: bool = False) -> click.Command:
    """`pod start|stop|...`: the pod's ID a pod (podman's), or its errors."""
    @click.command(action, cls=RemoteCommand, context_settings=CONTEXT, help=doc)
    @click.argument("names", nargs=-1, required=True)
    def verb(names, **options):
        service = client()
        query = {key: value for key, value in (("signal", options.get("signal_")), ("t", options.get("time")))
                 if value is not None}

        def act(name: str):
            response = service.open("POST", path("pods", name, action), query)
            data = response.read()
            return json.loads(data)["Id"] if data else service.json("GET", path("pods", name, "json"))["Id"]
        _each(names, act)
    if signal:
        verb = click.option("-s", "--signal", "signal_", default="KILL", show_default=True,
                            help="The signal to send.")(verb)
    if timeout:
        verb = click.option("-t", "--time", type=int, default=None, help="Seconds before SIGKILL.")(verb)
    return verb


@click.command("rm", cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Stop running containers first.")
@click.argument("names", nargs=-1, required=True)
def pod_rm(force, names):
    """Remove pods and their containers."""
    service = client()
    _each(names, lambda name: service.json("DELETE", path("pods", name), {"force": str(force).lower()})["Id"])


@click.command("top", cls=RemoteCommand, context_settings={**CONTEXT, "ignore_unknown_options": True})
@click.argument("pod")
@click.argument("descriptors", nargs=-1, type=click.UNPROCESSED)
def pod_top(pod, descriptors):
    """The processes of a pod's containers."""
    from .changes import format_table

    answer = client().json("GET", path("pods", pod, "top"), {"ps_args": ",".join(descriptors)} if descriptors else None)
    click.echo(format_table(answer["Titles"], answer["Processes"]), nl=False)


def _members(service, pod: str, infra: bool = False) -> tuple[str, list[dict]]:
    """A pod's id and its containers ({Id, Name, State}; the infra one only with `infra`), from
    its inspect document."""
    document = service.json("GET", path("pods", pod, "json"))
    left_out = "" if infra else document.get("InfraContainerID") or ""
    return document["Id"], [c for c in document.get("Containers") or [] if c["Id"] != left_out]


@click.command("logs", cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-c", "--container", default="", help="Only this container of the pod.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output until the containers exit.")
@click.option("--tail", type=int, default=-1, help="Only the last N lines of each container (-1: all).")
@click.option("-t", "--timestamps", is_flag=True, help="Prefix each line with its time.")
@click.option("--since", default="", help="Only lines after this time.")
@click.option("--until", default="", help="Only lines before this time.")
@click.option("-n", "--names", "by_name", is_flag=True, help="Each line's container by name, not ID.")
@click.option("--color", is_flag=True, help="Each container's lines in a colour of their own.")
@click.argument("pod")
def pod_logs(container, follow, tail, timestamps, since, until, by_name, color, pod):
    """Print the output of a pod's containers on the service, one after another (with --follow,
    together as they come)."""
    from .remote import show_logs

    service = client()
    _, members = _members(service, pod)
    if container:
        members = [c for c in members if container in (c["Name"], c["Id"]) or c["Id"].startswith(container)]
        if not members:
            raise InvalidArgument(f"container {container} is not in pod {pod}")
    if not members:
        raise InvalidArgument(f"pod {pod} has no containers to show logs of")
    options = {"tail": "all" if tail < 0 else str(tail), "timestamps": str(timestamps).lower(), "since": since,
               "until": until}
    documents = [service.json("GET", path("containers", member["Id"], "json")) for member in members]
    show_logs(service, documents, follow, {key: value for key, value in options.items() if value}, by_name, color)


def pod_stats_report(service, names):
    """`pod stats`' round: the named pods resolved once, before the first (a missing one is the
    error then, as locally); each round then one listing of the pods (their containers and
    states, no inspect of each pod) and one stats request for the running containers."""
    from ..presentation.pods import stats_row
    from ..presentation.stats import podman_row

    wanted = {_members(service, name)[0] for name in names}

    def report(previous: dict) -> tuple[list, dict]:
        owner = {member["Id"]: pod["Id"] for pod in service.json("GET", "/pods/json") or []
                 if not wanted or pod["Id"] in wanted
                 for member in pod.get("Containers") or [] if member["Status"] in ("running", "paused")}
        if not owner:
            return [], {}
        answer = service.json("GET", "/containers/stats", {"containers": list(owner), "stream": "false"})
        if answer.get("Error"):
            raise ServiceError(str(answer["Error"]))
        return [stats_row(owner[r["ContainerID"]], podman_row(r)) for r in answer.get("Stats") or []], {}

    return report


@click.command("stats", cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Every running pod (the default without names).")
@click.option("--format", "format_", default="", help="Go template (.Pod .CID .Name .CPU .MemUsage .Mem .NetIO "
                                                     ".BlockIO .PIDS), or json.")
@click.option("-i", "--interval", type=click.IntRange(1), default=5, show_default=True, help="Seconds between reports.")
@click.option("--no-reset", is_flag=True, help="Do not clear the screen between reports.")
@click.option("--no-stream", is_flag=True, help="One report, then exit.")
@click.argument("names", nargs=-1)
def pod_stats(all_, format_, interval, no_reset, no_stream, names):
    """The resource use of the service's pods' containers (podman's pod stats)."""
    from .pod import stats_text
    from .stats import stream_reports

    report = pod_stats_report(client(), names)
    stream_reports(report, lambda rows: stats_text(rows, format_), interval, no_stream, no_reset)


@click.command("ps", cls=RemoteCommand, context_settings=CONTEXT)
@_list_options
@click.option("-f", "--filter", "filters", multiple=True, help="id=, name=, label=, status=, ctr-names=, ctr-ids=, "
              "ctr-status=, ctr-number=, network=, until= (the service filters).")
@click.option("--no-trunc", is_flag=True, help="Full IDs.")
@click.option("--ctr-names", is_flag=True, help="The containers' names instead of their number.")
@click.option("--ctr-ids", is_flag=True, help="The containers' IDs instead of their number.")
@click.option("--ctr-status", is_flag=True, help="The containers' states instead of their number.")
def pod_ps(format_, quiet, no_heading, filters, no_trunc, ctr_names, ctr_ids, ctr_status):
    """List the service's pods, newest first."""
    from .pod import print_pods

    print_pods(_documents("pod", filters), format_, quiet, not no_heading, no_trunc, ctr_names, ctr_ids, ctr_status)


def _pods() -> click.Group:
    verbs = [_pod_action("start", "Start pods."), _pod_action("stop", "Stop pods.", timeout=True),
             _pod_action("restart", "Restart pods."), _pod_action("kill", "Kill pods.", signal=True),
             _pod_action("pause", "Pause pods."), _pod_action("unpause", "Unpause pods.")]
    # (`create` is husk.cli.remote_create's, with the local verb's flags: see husk.cli.remote_verbs)
    group = _group("pod", "Manage the service's pods.", pod_ps, pod_rm, pod_top, pod_logs, pod_stats,
                   _prune("pod", "Id"), *verbs,
                   _inspect("pod", "define.InspectPodData", one_as_object=True), _exists("pod"))
    group.add_command(pod_ps, "ls")
    return group


# -- networks -------------------------------------------------------------------------------
@click.command("ls", cls=RemoteCommand, context_settings=CONTEXT)
@_list_options
@click.option("-f", "--filter", "filters", multiple=True, help="name=, id=, driver=, label= (the service filters).")
@click.option("--no-trunc", is_flag=True, help="Full IDs.")
def network_ls(format_, quiet, no_heading, filters, no_trunc):
    """List the service's networks."""
    from .network import print_networks

    print_networks(_documents("network", filters), format_, quiet, not no_heading, no_trunc)


@click.command("rm", cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Remove the containers using it too.")
@click.argument("names", nargs=-1, required=True)
def network_rm(force, names):
    """Remove networks."""
    service = client()
    _each(names, lambda name: service.json("DELETE", path("networks", name), {"force": str(force).lower()})[0]["Name"])


def _network_link(action: str, doc: str, key: str) -> click.Command:
    """connect's body names the container `container`, disconnect's `Container` (podman's shapes)."""
    @click.command(action, cls=RemoteCommand, context_settings=CONTEXT, help=doc)
    @click.argument("network")
    @click.argument("container")
    def verb(network, container):
        client().open("POST", path("networks", network, action), body={key: container}).read()
    return verb


def _networks() -> click.Group:
    from .inspected import NETWORK_GO_NAMES, NETWORK_MAP_FIELDS

    return _group("network", "Manage the service's networks.", network_rm, _prune("network", "Name"),
                  network_ls,
                  _inspect("network", "types.Network", map_fields=NETWORK_MAP_FIELDS, go_names=NETWORK_GO_NAMES),
                  _exists("network"), _network_link("connect", "Connect a container to a network.", "container"),
                  _network_link("disconnect", "Disconnect a container from a network.", "Container"))


# -- volumes --------------------------------------------------------------------------------
@click.command("create", cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-d", "--driver", default="local", show_default=True, help="The volume driver.")
@click.option("-o", "--opt", "opts", multiple=True, help="KEY=VALUE driver option.")
@click.option("-l", "--label", "labels", multiple=True, help="KEY=VALUE label.")
@click.argument("name", required=False, default="")
def volume_create(driver, opts, labels, name):
    """Create a volume on the service; its name on stdout."""
    body = {"Name": name, "Driver": driver, "Options": dict(opt.partition("=")[::2] for opt in opts),
            "Labels": dict(label.partition("=")[::2] for label in labels)}
    click.echo(client().json("POST", "/volumes/create", body=body)["Name"])


@click.command("rm", cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Remove the containers using it too.")
@click.argument("names", nargs=-1, required=True)
def volume_rm(force, names):
    """Remove volumes."""
    service = client()
    _each(names, lambda name: service.open("DELETE", path("volumes", name), {"force": str(force).lower()}).read())


@click.command("ls", cls=RemoteCommand, context_settings=CONTEXT)
@_list_options
@click.option("-f", "--filter", "filters", multiple=True, help="name=, driver=, label=, opt=, dangling=, until= "
              "(the service filters).")
def volume_ls(format_, quiet, no_heading, filters):
    """List the service's volumes."""
    from .volume import print_volumes

    print_volumes(_documents("volume", filters), format_, quiet, not no_heading)


def _volumes() -> click.Group:
    return _group("volume", "Manage the service's volumes.", volume_create, volume_rm, _prune("volume", "Id"),
                  volume_ls,
                  _inspect("volume", "define.InspectVolumeData"), _exists("volume"))


# -- secrets --------------------------------------------------------------------------------
@click.command("create", cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-d", "--driver", default="file", show_default=True, help="The secret driver.")
@click.argument("name")
@click.argument("source")
def secret_create(driver, name, source):
    """Create a secret on the service from a file (- for stdin); its ID on stdout."""
    if source == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            with open(source, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise InvalidArgument(f"reading secret file {source}: {exc.strerror}") from None
    click.echo(client().json("POST", "/secrets/create", {"name": name, "driver": driver}, body=data)["ID"])


@click.command("rm", cls=RemoteCommand, context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
def secret_rm(names):
    """Remove secrets: each one's ID."""
    service = client()

    def remove(name: str) -> str:
        ident = service.json("GET", path("secrets", name, "json"))["ID"]
        service.open("DELETE", path("secrets", name)).read()
        return ident
    _each(names, remove)


@click.command("ls", cls=RemoteCommand, context_settings=CONTEXT)
@_list_options
def secret_ls(format_, quiet, no_heading):
    """List the service's secrets."""
    from .secret import print_secrets

    print_secrets(_documents("secret"), format_, quiet, not no_heading)


def _secrets() -> click.Group:
    return _group("secret", "Manage the service's secrets.", secret_create, secret_rm, secret_ls,
                  _inspect("secret", "secrets.SecretInfoReport", indent=4, message="inspecting secret: "), _exists("secret"))


# -- build and push -------------------------------------------------------------------------
@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-t", "--tag", multiple=True, help="Name the image (may be given several times).")
@click.option("-f", "--file", "file_", default="", help="The Containerfile, relative to the context.")
@click.option("--build-arg", multiple=True, help="KEY=VALUE for an ARG.")
@click.option("--label", multiple=True, help="KEY=VALUE label of the image.")
@click.option("--target", default="", help="Build up to this stage (by name).")
@click.option("--no-cache", is_flag=True, help="Do not use cached layers.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image id.")
@click.argument("context", default=".")
def build(tag, file_, build_arg, label, target, no_cache, quiet, context):
    """Build an image on the service from CONTEXT (a directory here, sent as a tar)."""
    import tempfile

    from ..storage.copying import write_archive

    if not os.path.isdir(context):
        raise InvalidArgument(f"context must be a directory: {context}")
    query = {"t": list(tag), "dockerfile": file_, "target": target, "nocache": str(no_cache).lower(),
             "q": str(quiet).lower(), "buildargs": json.dumps(dict(a.partition("=")[::2] for a in build_arg)),
             "labels": json.dumps(dict(each.partition("=")[::2] for each in label))}
    with tempfile.TemporaryFile() as spool:
        write_archive("/", os.path.abspath(context) + "/.", spool, name=".")
        spool.seek(0)
        response = client().open("POST", "/build", query, body=spool, timeout=None)
        ident = ""
        for line in response:
            message = json.loads(line)
            if message.get("error"):
                raise ServiceError(message["error"])
            if message.get("stream"):
                ident = message["stream"].strip() or ident
                if not quiet:
                    sys.stdout.write(message["stream"])
                    sys.stdout.flush()
    if quiet:
        click.echo(ident)


@click.command(cls=RemoteCommand, context_settings=CONTEXT)
@click.option("--tls-verify", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              help="Require HTTPS and a verified certificate.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@click.argument("image")
@click.argument("destination", required=False, default="")
def push(tls_verify, quiet, image, destination):
    """Push an image from the service's store to a registry."""
    response = client().open("POST", path("images", image, "push"),
                             {"destination": destination or image, "tlsVerify": str(tls_verify).lower()},
                             timeout=None)
    for line in response:
        message = json.loads(line)
        if message.get("error"):
            raise ServiceError(message["error"])
        if message.get("stream") and not quiet:
            sys.stderr.write(message["stream"])


# -- kube -----------------------------------------------------------------------------------
def _yaml(file: str) -> bytes:
    from .options import open_input

    with open_input(file) as stream:
        return stream.read()


@click.command("play", cls=RemoteCommand, context_settings=CONTEXT)
@click.option("--replace", is_flag=True, help="Remove the pods the YAML makes first.")
@click.option("--down", is_flag=True, help="Remove the pods the YAML made, instead.")
@click.option("--start", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              help="Start the pods (default true).")
@click.option("--network", "--net", multiple=True, help="The pods' network.")
@click.option("--log-driver", default="", help="The containers' log driver: k8s-file (default), json-file, none.")
@click.argument("file")
def kube_play(replace, down, start, network, log_driver, file):
    """Run Kubernetes YAML (FILE, or - for stdin) on the service; its missing images are pulled there."""
    from .kube import print_played

    if down:
        _down(file)
        return
    query = {"replace": str(replace).lower(), "start": str(start).lower(), "network": list(network),
             "logDriver": log_driver}
    report = client().json("POST", "/play/kube", query, body=_yaml(file))
    print_played([volume["Name"] for volume in report.get("Volumes") or []],
                 [(pod["ID"], pod.get("Containers") or []) for pod in report.get("Pods") or []])


@click.command("down", cls=RemoteCommand, context_settings=CONTEXT)
@click.argument("file")
def kube_down(file):
    """Remove the pods (and their containers) that Kubernetes YAML made on the service."""
    _down(file)


def _down(file: str) -> None:
    from .kube import print_down

    print_down([each["Id"] for each in client().json("DELETE", "/play/kube", body=_yaml(file)).get("RmReport") or []])


@click.command("kube", cls=RemoteCommand, context_settings=CONTEXT)
@click.option("-s", "--service", is_flag=True, help="Add a Service for the published ports.")
@click.option("-f", "--filename", default="", help="Write the YAML to this file (default: stdout).")
@click.option("-t", "--type", "kind", default="pod", help="pod, or deployment (beyond podman 4.3).")
@click.argument("names", nargs=-1, required=True)
def generate_kube(service, filename, kind, names):
    """Kubernetes YAML for the service's pods, containers and volumes."""
    query = {"names": list(names), "service": str(service).lower(), "type": kind}
    from .kube import write_yaml

    write_yaml(client().open("GET", "/generate/kube", query).read().decode(), filename)


def _kube() -> click.Group:
    group = _group("kube", "Kubernetes YAML on the service: generate, play, down.", kube_play, kube_down)
    group.add_command(generate_kube, "generate")
    return group


def _play() -> click.Group:
    group = click.Group("play", help="Play Kubernetes YAML on the service.", context_settings=CONTEXT)
    group.add_command(kube_play, "kube")
    return group


def _generate() -> click.Group:
    return _group("generate", "Generate structured data from the service's objects.", generate_kube)


COMMANDS = {"kube": _kube(), "play": _play(), "generate": _generate(), "pod": _pods(), "network": _networks(), "volume": _volumes(), "secret": _secrets(),
            "build": build, "push": push}
