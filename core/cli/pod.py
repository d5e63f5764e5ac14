"""`pod create/start/stop/restart/kill/pause/unpause/rm/prune/ps/inspect/top/exists/logs`:
podman 4.3's pod verbs, flags, output and exit codes (see husk.engine.pods).

Verbs over several pods go on after a failure and exit with the last error's
code, printing each pod's id as it is done, as podman does; a pod that does
not exist is exit 1 for `rm` and `exists`, 125 elsewhere."""

from __future__ import annotations

import json
import sys

import click

from ..define import HuskError, InvalidArgument, NoSuchPod
from .common import CONTEXT

pass_session = click.pass_obj
PRUNE_WARNING = "WARNING! This will remove all stopped/exited pods.."


def _read_id_files(paths: tuple[str, ...]) -> list[str]:
    ids = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                ids.append(handle.read().strip())
        except OSError as exc:
            raise InvalidArgument(f"reading pod ID file: {exc.strerror}: {path}") from None
    return ids


def _pods(session, names, all_: bool = False, latest: bool = False, id_files: tuple[str, ...] = ()) -> list[str]:
    """The pods a verb acts on: names, --pod-id-file's ids, --latest, or --all (their ids)."""
    from ..engine.pods import all_pods

    names = [*names, *_read_id_files(id_files)]
    if sum((bool(names), all_, latest)) > 1:
        raise InvalidArgument("--all, --latest and pod names cannot be used together")
    if all_:
        return [pod.id for pod in all_pods(session.runtime)]
    if latest:
        pods = all_pods(session.runtime)
        if not pods:
            raise NoSuchPod("no pods to operate on: no such pod")
        return [pods[-1].id]
    if not names:
        raise InvalidArgument("you must provide at least one name or id")
    return names


def _each(session, names, operation, missing_code: int = 125, ignore: bool = False) -> None:
    """`operation(pod)` for each pod; its id printed when done, errors one line each."""
    from ..engine.pods import get_pod

    code = 0
    for name in names:
        try:
            pod = get_pod(session.runtime, name)
            operation(pod)
            click.echo(pod.id)
        except NoSuchPod as exc:
            if ignore:
                continue
            print(f"Error: {exc}", file=sys.stderr)
            code = missing_code
        except HuskError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            code = exc.exit_code
    if code:
        raise SystemExit(code)


def create_from_flags(session, opts: dict, name: str = ""):
    """A pod from `pod create`'s flags (and `--pod new:NAME`'s container flags)."""
    from ..engine.pods import create_pod
    from ..network.ports import parse_publish
    from ..state.records import HostFiles
    from .options import parse_labels

    infra_command = None
    if opts.get("infra_command"):
        from .options import parse_entrypoint

        infra_command = parse_entrypoint(opts["infra_command"])
    network = list(opts.get("network") or ()) or None
    userns = None
    if any(opts.get(flag) for flag in ("userns", "uidmap", "gidmap", "subuidname", "subgidname")):
        from ..engine.userns import run_options

        userns = run_options(lambda: session.runtime, opts.get("userns") or "", opts.get("uidmap", ()),
                             opts.get("gidmap", ()), opts.get("subuidname") or "", opts.get("subgidname") or "")
    return create_pod(
        session.runtime, name, infra=opts.get("infra", True), infra_command=infra_command,
        infra_name=opts.get("infra_name", ""), share=opts.get("share"), hostname=opts.get("hostname", ""),
        labels=parse_labels(opts.get("label", ())), exit_policy=opts.get("exit_policy", "continue"), network=network,
        ports=[m for p in opts.get("publish", ()) for m in parse_publish(p)],
        host_files=HostFiles(dns_servers=list(opts.get("dns", ())), dns_search=list(opts.get("dns_search", ())),
                             dns_options=list(opts.get("dns_option", ())), add_hosts=list(opts.get("add_host", ())),
                             no_hosts=opts.get("no_hosts", False)),
        cgroup_parent=opts.get("cgroup_parent", ""), memory=opts.get("memory"), cpus=opts.get("cpus"),
        userns=userns)


def write_id_file(path: str, pod_id: str) -> None:
    if path:
        try:
            with open(path, "w", encoding="ascii") as handle:
                handle.write(pod_id)
        except OSError as exc:
            raise InvalidArgument(f"writing pod ID file: {exc.strerror}: {path}") from None


@click.command(context_settings=CONTEXT)
@click.option("-n", "--name", default="", help="Name of the pod (default: a random one).")
@click.option("--infra", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              help="Make an infra container that holds the shared namespaces (default true).")
@click.option("--infra-command", default="", help="The infra container's command (default: /catatonit -P).")
@click.option("--infra-name", default="", help="The infra container's name (default: the pod id's first 12, -infra).")
@click.option("--share", default=None, help="Namespaces to share: net, ipc, uts, pid, cgroup (default ipc,net,uts; "
                                            "+pid adds to the default).")
@click.option("-p", "--publish", multiple=True, help="Publish [ip:][hostPort:]containerPort[/protocol] for the pod.")
@click.option("--network", "--net", multiple=True, help="The pod's network: bridge, none, host, or network names.")
@click.option("--hostname", default="", help="The pod's host name (default: its name).")
@click.option("--add-host", multiple=True, help="Add HOST:IP to the pod's /etc/hosts.")
@click.option("--dns", multiple=True, help="DNS server for the pod's /etc/resolv.conf.")
@click.option("--dns-search", multiple=True, help="DNS search domain.")
@click.option("--dns-option", "--dns-opt", "dns_option", multiple=True, help="resolv.conf option.")
@click.option("--no-hosts", is_flag=True, help="Keep the image's /etc/hosts.")
@click.option("-l", "--label", multiple=True, help="Set a label (key=value).")
@click.option("--pod-id-file", default="", help="Write the pod's id to this file.")
@click.option("--replace", is_flag=True, help="Remove a pod of the same name first.")
@click.option("--cgroup-parent", default="", help="The parent of the pod's own cgroup (default husk_pods, when "
                                                  "--memory or --cpus is given).")
@click.option("-m", "--memory", default=None, help="Memory limit of the pod's containers together (e.g. 256m).")
@click.option("--cpus", default=None, help="CPUs the pod's containers may use together (e.g. 1.5).")
@click.option("--exit-policy", default="continue", help="continue, or stop: stop the pod when its last container "
                                                        "exits.")
@click.option("--userns", default="", help="The pod's user namespace, which its containers share: host, "
                                           "auto[:size=N] (keep-id, nomap: rootless).")
@click.option("--uidmap", multiple=True, help="CONTAINER:HOST:SIZE uid map of the pod's user namespace.")
@click.option("--gidmap", multiple=True, help="CONTAINER:HOST:SIZE gid map of the pod's user namespace.")
@click.option("--subuidname", default="", help="Map the pod to this user's /etc/subuid ranges.")
@click.option("--subgidname", default="", help="Map the pod to this user's /etc/subgid ranges.")
@click.argument("name_arg", required=False, default="")
@pass_session
def create(session, name, name_arg, pod_id_file, replace, **opts):
    """Create a pod (and its infra container); prints its id."""
    from ..engine.pods import get_pod

    if name and name_arg:
        raise InvalidArgument("cannot specify --name and a pod name argument together")
    name = name or name_arg
    if replace:
        if not name:
            raise InvalidArgument("cannot replace pod without --name being set")
        try:
            get_pod(session.runtime, name).remove(force=True)
        except NoSuchPod:
            pass
    pod = create_from_flags(session, opts, name)
    write_id_file(pod_id_file, pod.id)
    click.echo(pod.id)


def _all_option(function):
    function = click.option("-l", "--latest", is_flag=True, help="The pod created last.")(function)
    return click.option("-a", "--all", "all_", is_flag=True, help="Every pod.")(function)


def _id_file_option(function):
    return click.option("--pod-id-file", "id_files", multiple=True, help="Read a pod's id from this file.")(function)


@click.command(context_settings=CONTEXT)
@_all_option
@_id_file_option
@click.argument("names", nargs=-1)
@pass_session
def start(session, all_, latest, id_files, names):
    """Start pods: the infra container first, then the others."""
    _each(session, _pods(session, names, all_, latest, id_files), lambda pod: pod.start())


@click.command(context_settings=CONTEXT)
@_all_option
@_id_file_option
@click.option("-i", "--ignore", is_flag=True, help="Ignore pods that do not exist.")
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds to wait before SIGKILL.")
@click.argument("names", nargs=-1)
@pass_session
def stop(session, all_, latest, id_files, ignore, timeout, names):
    """Stop pods: their containers, then the infra container."""
    _each(session, _pods(session, names, all_, latest, id_files), lambda pod: pod.stop(timeout), ignore=ignore)


def _whole_pod_verb(name: str, help_text: str) -> click.Command:
    """A verb that calls the Pod method of its name on each pod."""
    @click.command(name, context_settings=CONTEXT, help=help_text)
    @_all_option
    @click.argument("names", nargs=-1)
    @pass_session
    def command(session, all_, latest, names):
        _each(session, _pods(session, names, all_, latest), lambda pod: getattr(pod, name)())
    return command


restart = _whole_pod_verb("restart", "Stop and start pods again.")
pause = _whole_pod_verb("pause", "Pause every running container of pods.")
unpause = _whole_pod_verb("unpause", "Unpause every paused container of pods.")


@click.command(context_settings=CONTEXT)
@_all_option
@click.option("-s", "--signal", "signal_", default="KILL", help="Signal to send (default KILL).")
@click.argument("names", nargs=-1)
@pass_session
def kill(session, all_, latest, signal_, names):
    """Send a signal to every running container of pods."""
    from ..formats.signals import parse_signal

    number = parse_signal(signal_)
    _each(session, _pods(session, names, all_, latest), lambda pod: pod.kill(number))


@click.command(context_settings=CONTEXT)
@_all_option
@_id_file_option
@click.option("-f", "--force", is_flag=True, help="Stop running containers first.")
@click.option("-i", "--ignore", is_flag=True, help="Ignore pods that do not exist.")
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds to wait before SIGKILL (with -f).")
@click.argument("names", nargs=-1)
@pass_session
def rm(session, all_, latest, id_files, force, ignore, timeout, names):
    """Remove pods and their containers."""
    _each(session, _pods(session, names, all_, latest, id_files), lambda pod: pod.remove(force, timeout),
          missing_code=1, ignore=ignore)


@click.command(context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@pass_session
def prune(session, force):
    """Remove every stopped or exited pod and its containers."""
    from ..engine.pods import prune as prune_pods

    if not force:
        click.echo(PRUNE_WARNING)
        if not click.confirm("Are you sure you want to continue? [y/N]", default=False, show_default=False,
                             prompt_suffix=" "):
            return
    for pod_id in prune_pods(session.runtime):
        click.echo(pod_id)


@click.command("ps", context_settings=CONTEXT)
@click.option("-f", "--filter", "filters", multiple=True, help="id=, name=, label=, status=, ctr-names=, ctr-ids=, "
                                                             "ctr-status=, ctr-number=, network=, until=.")
@click.option("--format", "format_", default="", help="Go template, or json.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the pod ids.")
@click.option("--no-trunc", is_flag=True, help="Full ids.")
@click.option("--noheading", "-n", "no_heading", is_flag=True, help="No header row.")
@click.option("--ctr-names", is_flag=True, help="The containers' names instead of their number.")
@click.option("--ctr-ids", is_flag=True, help="The containers' ids instead of their number.")
@click.option("--ctr-status", is_flag=True, help="The containers' states instead of their number.")
@click.option("--sort", default="created", help="created, id, name, number or status.")
@click.option("-l", "--latest", is_flag=True, help="Only the pod created last.")
@pass_session
def ps(session, filters, format_, quiet, no_trunc, no_heading, ctr_names, ctr_ids, ctr_status, sort, latest):
    """List pods."""
    from ..presentation.pods import ps_document, select_pods
    from .volume import _filters

    entries = select_pods(session.runtime, _filters(filters), sort=sort, latest=latest)
    print_pods([ps_document(pod, containers) for pod, containers in entries], format_, quiet, not no_heading,
               no_trunc, ctr_names, ctr_ids, ctr_status)


def print_pods(documents: list[dict], format_: str, quiet: bool, heading: bool, no_trunc: bool, ctr_names: bool,
               ctr_ids: bool, ctr_status: bool) -> None:
    """`pod ps` of podman's ListPodsReports (this host's or a service's)."""
    import time

    from ..presentation.pods import PS_HEADERS, ps_row, ps_table
    from .listing import print_listing

    now = time.time()
    print_listing(documents, format_, quiet, heading, ps_table(ctr_names, ctr_ids, ctr_status), PS_HEADERS,
                  lambda doc: ps_row(doc, no_trunc, now), lambda doc: doc["Id"] if no_trunc else doc["Id"][:12])


@click.command(context_settings=CONTEXT)
@click.option("-f", "--format", "format_", default="", help="Go template, or json.")
@click.option("-l", "--latest", is_flag=True, help="The pod created last.")
@click.argument("names", nargs=-1)
@pass_session
def inspect(session, format_, latest, names):
    """Show pods' details as JSON (or through a template)."""
    from .inspected import pod_document
    from .listing import print_inspected

    if not names and not latest:
        raise InvalidArgument("no names or ids specified")  # podman's words (not the other verbs')
    print_inspected(_pods(session, names, latest=latest), lambda name: pod_document(session.runtime, name),
                    format_, "define.InspectPodData", "inspecting object: ", indent=5,  # podman 4.3's 5
                    one_as_object=True)


@click.command(context_settings=CONTEXT)
@click.argument("name")
@pass_session
def exists(session, name):
    """Exit 0 when the pod exists, 1 when it does not."""
    try:
        session.runtime.store.lookup_pod(name)
    except NoSuchPod:
        raise SystemExit(1) from None


@click.command(context_settings={**CONTEXT, "ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-l", "--latest", is_flag=True, help="The pod created last (every argument is a descriptor).")
@click.argument("pod", required=False)
@click.argument("descriptors", nargs=-1, type=click.UNPROCESSED)
@pass_session
def top(session, latest, pod, descriptors):
    """Show the processes of a pod's running containers (podman top's DESCRIPTORS)."""
    from ..engine.pods import get_pod
    from .changes import format_table

    if latest:
        descriptors = (*([pod] if pod else []), *descriptors)
    name = _pods(session, [pod] if pod and not latest else [], latest=latest)[0]
    titles, rows = get_pod(session.runtime, name).top(list(descriptors))
    click.echo(format_table(titles, rows), nl=False)


@click.command(context_settings=CONTEXT)
@click.option("-c", "--container", default="", help="Only this container of the pod.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output until the containers exit.")
@click.option("--tail", type=int, default=-1, help="Only the last N lines of each container (-1: all).")
@click.option("-t", "--timestamps", is_flag=True, help="Prefix each line with its time.")
@click.option("--since", default=None, help="Only lines after this time.")
@click.option("--until", default=None, help="Only lines before this time.")
@click.option("-n", "--names", "by_name", is_flag=True, help="Each line's container by name, not ID.")
@click.option("--color", is_flag=True, help="Each container's lines in a colour of their own.")
@click.option("-l", "--latest", is_flag=True, help="The pod created last.")
@click.argument("pod", required=False)
@pass_session
def logs(session, container, follow, tail, timestamps, since, until, by_name, color, latest, pod):
    """Print the output of a pod's containers (the infra container's is empty)."""
    from ..engine.pods import get_pod
    from .listing import print_logs

    chosen = get_pod(session.runtime, _pods(session, [pod] if pod else [], latest=latest)[0])
    members = [c for c in chosen.containers() if c.id != chosen.record.infra_id]
    if container:
        members = [c for c in members if container in (c.name, c.id) or c.id.startswith(container)]
        if not members:
            raise InvalidArgument(f"container {container} is not in pod {chosen.name}")
    if not members:
        raise InvalidArgument(f"pod {chosen.name} has no containers to show logs of")
    print_logs(session.runtime, [c.id for c in members], follow=follow, tail=tail, timestamps=timestamps,
               since=since, until=until, by_name=by_name, color=color)


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Every running pod (the default without names).")
@click.option("--format", "format_", default="", help="Go template (.Pod .CID .Name .CPU .MemUsage .Mem .NetIO "
                                                     ".BlockIO .PIDS), or json.")
@click.option("-i", "--interval", type=int, default=5, show_default=True, help="Seconds between reports.")
@click.option("-l", "--latest", is_flag=True, help="The pod created last.")
@click.option("--no-reset", is_flag=True, help="Do not clear the screen between reports.")
@click.option("--no-stream", is_flag=True, help="One report, then exit.")
@click.argument("names", nargs=-1)
@pass_session
def stats(session, all_, format_, interval, latest, no_reset, no_stream, names):
    """Show the resource usage of pods' containers (podman's pod stats)."""
    from ..engine.pods import all_pods, get_pod
    from ..engine.stats import sample
    from ..presentation.pods import stats_row
    from ..presentation.stats import podman_report, podman_row
    from .stats import stream_reports

    if interval < 1:
        raise InvalidArgument("invalid interval, must be a positive number greater zero")
    wanted = _pods(session, names, latest=latest) if names or latest else None
    pods = [get_pod(session.runtime, name) for name in wanted] if wanted else None

    def report(previous: dict) -> tuple[list, dict]:
        rows, current = [], {}
        for pod in pods if pods is not None else all_pods(session.runtime):
            for container in pod.containers():
                if container.state.state.value in ("running", "paused"):
                    current[container.id] = sample(container)
                    row = podman_row(podman_report(container, current[container.id], previous.get(container.id)))
                    rows.append(stats_row(pod.id, row))
        return rows, current

    stream_reports(report, lambda rows: stats_text(rows, format_), interval, no_stream, no_reset)


def stats_text(rows: list, format_: str) -> str:
    """`pod stats`' table (or template, or JSON) of PodStatsReport rows."""
    from ..formats.template import format_rows
    from ..presentation.pods import STATS_HEADERS, STATS_TABLE

    if format_ == "json":
        return json.dumps([dict(row) for row in rows], indent=4) + "\n"
    return format_rows(format_ if format_ and format_ != "table" else STATS_TABLE, rows, STATS_HEADERS)


def register(group: click.Group) -> None:
    pod_group = click.Group("pod", help="Manage pods.", context_settings=CONTEXT)
    for command in (create, start, stop, restart, kill, pause, unpause, rm, prune, ps, inspect, exists, top, logs,
                    stats):
        pod_group.add_command(command)
    pod_group.add_command(ps, "ls")
    pod_group.add_command(ps, "list")
    group.add_command(pod_group)


#: the container flags `--pod new:NAME` gives the new pod, as podman does (the container keeps none of them)
_NEW_POD_FLAGS = ("publish", "network", "dns", "dns_search", "dns_option", "add_host")


def pod_option(session, opts: dict) -> str:
    """`create`/`run --pod NAME|new:NAME` and `--pod-id-file`: the pod to join
    ("" for none); `new:NAME` makes the pod from the container's network flags."""
    pod = opts.get("pod") or ""
    if opts.get("pod_id_file"):
        if pod:
            raise InvalidArgument("cannot specify both --pod and --pod-id-file")
        pod = _read_id_files((opts["pod_id_file"],))[0]
    if pod and opts.get("userns"):  # a pod's members share its user namespace (pod create --userns)
        raise InvalidArgument("--userns and --pod cannot be set together")
    if not pod.startswith("new:"):
        return pod
    settings = {flag: opts.get(flag, ()) for flag in _NEW_POD_FLAGS}
    for flag in _NEW_POD_FLAGS:
        if flag in opts:
            opts[flag] = ()
    return create_from_flags(session, settings, pod[len("new:"):]).id
