"""Container verbs: create, run, init, start, stop, kill, wait, rm, logs, exists, cleanup (ps and inspect:
husk.cli.reading)."""

from __future__ import annotations

import os

import click

from ..define import HuskError, InvalidArgument, NoSuchContainer
from .common import (CONTEXT, DeferredOptions, Group, deferred, detach_keys_option, names_or_all,
                     run_and_report, sig_proxy_option)
from .targets import selectors, targets

pass_session = click.pass_obj


def _create_options(function):
    """The flags `create` and `run` share (podman's names); applied when the
    command is parsed (DeferredOptions), so other verbs do not build them."""
    from .changes import resource_options
    from .health import health_flags
    from .registry import create_pull_options
    from .run_flags import run_flags

    options = [
        click.option("--name", default="", help="Name of the container."),
        click.option("--rm", "auto_remove", is_flag=True, help="Remove the container when it exits."),
        click.option("-i", "--interactive", is_flag=True, help="Keep stdin open."),
        click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY."),
        click.option("-e", "--env", multiple=True, help="Set an environment variable (K=V, or K from the host)."),
        click.option("--env-file", multiple=True, help="Read environment variables from a file."),
        click.option("-u", "--user", default="", help="Run as USER[:GROUP] (names from the image's /etc/passwd)."),
        click.option("-w", "--workdir", default="", help="Working directory inside the container."),
        click.option("--entrypoint", default=None, help="Override the image's entrypoint (string or JSON array)."),
        click.option("-h", "--hostname", default="", help="Container host name."),
        click.option("-l", "--label", multiple=True, help="Set a label (key=value)."),
        click.option("--annotation", multiple=True, help="Set an OCI annotation (key=value)."),
        click.option("--stop-signal", default="", help="Signal that stops the container (default SIGTERM)."),
        click.option("--stop-timeout", type=int, default=None, help="Seconds before SIGKILL on stop (default 10)."),
        click.option("--network", "--net", multiple=True,
                     help="bridge (the default network), none, host, container:NAME, ns:PATH, or network names."),
        click.option("-p", "--publish", multiple=True, help="Publish [ip:][hostPort:]containerPort[/protocol]."),
        click.option("-P", "--publish-all", is_flag=True, help="Publish every exposed port on a free host port."),
        click.option("--expose", multiple=True, help="Expose PORT[-PORT][/protocol] (published by -P)."),
        click.option("--ip", default="", help="Static IPv4 address on the network."),
        click.option("--ip6", default="", help="Static IPv6 address on the network."),
        click.option("--mac-address", default="", help="Static MAC address on the network."),
        click.option("--network-alias", multiple=True, help="DNS name of the container on its network."),
        click.option("--dns", multiple=True, help="DNS server for /etc/resolv.conf (replaces the host's)."),
        click.option("--dns-search", multiple=True, help="DNS search domain (replaces the host's; . for none)."),
        click.option("--dns-option", "--dns-opt", "dns_option", multiple=True, help="resolv.conf option."),
        click.option("--add-host", multiple=True, help="Add HOST:IP to /etc/hosts."),
        click.option("--no-hosts", is_flag=True, help="Keep the image's /etc/hosts."),
        click.option("--read-only", is_flag=True, help="Mount the root filesystem read-only."),
        click.option("-v", "--volume", multiple=True,
                     help="Bind mount /host:/ctr[:opts], mount volume NAME:/ctr[:opts], or an anonymous volume /ctr."),
        click.option("--tmpfs", multiple=True, help="Mount a tmpfs at /path[:options]."),
        click.option("--volumes-from", multiple=True, help="Mount the volumes of CONTAINER[:ro|rw]."),
        click.option("--secret", "secrets", multiple=True,
                     help="Give the container a secret: NAME[,type=mount|env,target=,uid=,gid=,mode=]."),
        click.option("--restart", default="no", help="Restart policy: no, on-failure[:N], always, unless-stopped."),
        click.option("--privileged", is_flag=True, help="All capabilities, no masked paths."),
        click.option("--cap-add", multiple=True, help="Add a capability."),
        click.option("--cap-drop", multiple=True, help="Drop a capability."),
        click.option("--security-opt", multiple=True,
                     help="seccomp=unconfined|PATH, no-new-privileges, apparmor=, label=, mask=, unmask=, proc-opts=."),
        click.option("--seccomp-policy", default="default", help="default, or image (the image's profile label)."),
        click.option("--requires", multiple=True,
                     help="Containers (NAME[,NAME...]) to start before this one; they must exist."),
        click.option("--pod", default="", help="Join this pod (NAME or id), or make it: new:NAME."),
        click.option("--pod-id-file", default="", help="Join the pod whose id this file holds."),
        click.argument("image"),
        click.argument("command", nargs=-1),
    ]
    for option in reversed(options):
        function = option(function)
    return resource_options(create_pull_options(health_flags(run_flags(function))))


def _create(session, opts: dict, preserve_fds: int = 0) -> "object":
    from .changes import resource_limits
    from .options import parse_annotations, parse_entrypoint, parse_env, parse_labels
    from .registry import image_for_create
    from ..state.records import HostFiles
    from . import run_flags as flags

    flags.check_cidfile(opts["cidfile"])
    run_options = flags.run_options(session, opts)
    run_options.preserve_fds = preserve_fds
    from .health import health_settings

    healthcheck = health_settings(opts)
    mounts = []
    if opts["volume"] or opts["tmpfs"]:  # the parsers' modules only when asked (run's common case has neither)
        from ..presentation.mounts import parse_tmpfs, parse_volume

        mounts = [parse_volume(v) for v in opts["volume"]] + [parse_tmpfs(t) for t in opts["tmpfs"]]
    mounts += flags.parse_mounts(opts["mount_"])
    env = parse_env(opts["env"], opts["env_file"])
    if opts["replace"]:
        flags.replace(session, opts["name"])
    pod = ""
    if opts["pod"] or opts["pod_id_file"]:  # the pod verbs' module only when asked (building its verbs costs 1 ms)
        from .pod import pod_option

        pod = pod_option(session, opts)
    container = session.runtime.create_container(
        opts["image"] if opts["rootfs"] else image_for_create(session, opts), list(opts["command"]), name=opts["name"],
        entrypoint=parse_entrypoint(opts["entrypoint"]), env=flags.host_env(env, opts["env_host"], opts["http_proxy"]),
        workdir=opts["workdir"], user=opts["user"], hostname=opts["hostname"],
        labels=parse_labels((*flags.read_label_files(opts["label_file"]), *opts["label"])),
        annotations=parse_annotations(opts["annotation"]),
        stop_signal=opts["stop_signal"], stop_timeout=opts["stop_timeout"], pod=pod,
        network=list(opts["network"]) or None, ports=_ports(opts["publish"]),
        static_ips=[ip for ip in (opts["ip"], opts["ip6"]) if ip], static_mac=opts["mac_address"],
        aliases=opts["network_alias"], expose=opts["expose"], publish_all=opts["publish_all"],
        image_volume=opts["image_volume"], rootfs=opts["rootfs"],
        host_files=HostFiles(dns_servers=list(opts["dns"]), dns_search=list(opts["dns_search"]),
                             dns_options=list(opts["dns_option"]), add_hosts=list(opts["add_host"]),
                             no_hosts=opts["no_hosts"]),
        read_only=opts["read_only"], mounts=mounts, stdin_open=opts["interactive"], tty=opts["tty"],
        auto_remove=opts["auto_remove"], restart_policy=opts["restart"], privileged=opts["privileged"],
        cap_add=_split(opts["cap_add"]), cap_drop=_split(opts["cap_drop"]),
        security_opt=opts["security_opt"], seccomp_policy=opts["seccomp_policy"],
        dependencies=[name for value in opts["requires"] for name in value.split(",")],
        resources=resource_limits(opts), run_options=run_options, volumes_from=opts["volumes_from"], secrets=opts["secrets"],
        healthcheck=healthcheck)
    flags.write_cidfile(opts["cidfile"], container.id)
    return container


def _ports(publish: tuple[str, ...]) -> list:
    """-p/--publish as port mappings (the parser's module only when there is one)."""
    if not publish:
        return []
    from ..network.ports import parse_publish

    return [mapping for value in publish for mapping in parse_publish(value)]


def _split(values: tuple[str, ...]) -> list[str]:
    """`--cap-add A,B --cap-add C` as podman reads it: one list."""
    return [item for value in values for item in value.split(",") if item]


@click.command(cls=DeferredOptions, context_settings={**CONTEXT, "allow_interspersed_args": False})
@deferred(_create_options)
@pass_session
def create(session, **opts):
    """Create a container from IMAGE without starting it; prints its id."""
    click.echo(_create(session, opts).id)


@click.command(cls=DeferredOptions, context_settings={**CONTEXT, "allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run in the background and print the container id.")
@click.option("--rmi", is_flag=True, help="Remove the image once the container is gone (implies --rm).")
@click.option("--preserve-fds", type=int, default=0, help="Pass the descriptors 3 to 2+N on to the container.")
@detach_keys_option
@sig_proxy_option
@deferred(_create_options)
@pass_session
def run(session, detach, rmi, preserve_fds, detach_keys, sig_proxy, **opts):
    """Create and start a container; attached, exits with the container's exit code."""
    from ..presentation.terminal import parse_detach_keys

    if preserve_fds:  # before husk opens files that could take fd 3 (0: nothing to check, the command may be the image's)
        from ..engine.exec_session import check_arguments
        from ..engine.monitor_client import preserve_caller_fds

        check_arguments(list(opts["command"]) or ["-"], preserve_fds)
        preserve_caller_fds(preserve_fds)

    parse_detach_keys(detach_keys)  # bad keys create nothing
    if detach and opts["attach"]:
        raise InvalidArgument("--attach and --detach cannot be used together")
    if detach and rmi:
        raise InvalidArgument("--rmi is only for a container run in the foreground")
    opts["auto_remove"] = opts["auto_remove"] or rmi
    if opts["tty"] and opts["interactive"] and not os.isatty(0):
        from ..define import logger

        logger().warning("The input device is not a TTY. The --tty and --interactive flags "
                                          "might not work properly")
    container = _create(session, opts, preserve_fds=preserve_fds)
    if detach:
        container.start(recursive=True)
        click.echo(container.id)
        return
    from .attach import run_attached

    code = run_attached(container, attach_stdin=opts["interactive"], sig_proxy=sig_proxy, detach_keys=detach_keys)
    if rmi:
        from ..storage.images import remove_image

        try:
            remove_image(session.runtime, container.config.image_name)
        except HuskError as exc:  # in use by another container: podman says so and keeps it
            click.echo(f"Error: failed removing image {container.config.image_name}: {exc}", err=True)
    raise SystemExit(code)


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Initialise every configured container.")
@selectors()
@click.argument("names", nargs=-1)
@pass_session
def init(session, all_, latest, names):
    """Create containers in the OCI runtime without starting them."""
    for name in targets(session, names, all_=all_, latest=latest):
        session.runtime.container(name).init()
        click.echo(name)


@click.command(context_settings=CONTEXT)
@click.option("-a", "--attach", is_flag=True, help="Attach to the container's output.")
@click.option("-i", "--interactive", is_flag=True, help="Attach stdin too.")
@detach_keys_option
@sig_proxy_option
@click.option("--all", "all_", is_flag=True, help="Start every container, whatever its state.")
@selectors(filter_=True, filter_short="-f")
@click.argument("names", nargs=-1)
@pass_session
def start(session, attach, interactive, detach_keys, sig_proxy, all_, latest, filters, names):
    """Start one or more containers."""
    names = targets(session, names, all_=all_, latest=latest, filters=filters,
                    states=("configured", "created", "stopped", "exited"))
    if not names:
        return  # --all or --filter chose none
    if attach or interactive:
        if len(names) != 1:
            raise InvalidArgument("you cannot start and attach multiple containers at once")
        from .attach import run_attached

        container = session.runtime.container(names[0])
        raise SystemExit(run_attached(container, attach_stdin=interactive,
                                      remove=False, sig_proxy=sig_proxy, detach_keys=detach_keys))
    run_and_report(session, "start", list(names))


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Stop every running container.")
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds to wait before SIGKILL.")
@click.option("-i", "--ignore", is_flag=True, help="Ignore containers that do not exist.")
@selectors(cidfile=True, filter_=True, filter_short="-f")
@click.argument("names", nargs=-1)
@pass_session
def stop(session, all_, timeout, ignore, latest, cidfiles, filters, names):
    """Stop containers: the stop signal, then SIGKILL after the timeout."""
    from ..engine.container import check_timeout

    check_timeout(timeout)  # once, before any container is touched
    chosen = targets(session, names, all_=all_, latest=latest, cidfiles=cidfiles, filters=filters,
                     states=("running", "created", "paused"))
    run_and_report(session, "stop", chosen, timeout=timeout, ignore_missing=ignore)


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Signal every running container.")
@click.option("-s", "--signal", "signal_", default="KILL", show_default=True, help="Signal to send.")
@selectors(cidfile=True)
@click.argument("names", nargs=-1)
@pass_session
def kill(session, all_, signal_, latest, cidfiles, names):
    """Send a signal to running containers."""
    number = _kill_signal(signal_)
    run_and_report(session, "kill", targets(session, names, all_=all_, latest=latest, cidfiles=cidfiles,
                                            states=("running",)), signal=number)


def _kill_signal(text: str) -> int:
    """A signal as podman's kill reads it: a name, or a number whose sign it ignores, 1 to 64."""
    import re

    from ..formats.signals import parse_signal

    if re.fullmatch(r"-?[0-9]+", text.strip()):
        number = abs(int(text))
        if number == 0:
            raise InvalidArgument(f"invalid signal: {text}")
        if number > 64:
            raise InvalidArgument("valid signals are 1 through 64")
        return number
    return parse_signal(text)


@click.command(context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Stop running containers first; ignore missing ones.")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every container.")
@click.option("-v", "--volumes", is_flag=True, help="Remove the containers' anonymous volumes too.")
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds to wait before SIGKILL.")
@click.option("-i", "--ignore", is_flag=True, help="Ignore containers that do not exist.")
@click.option("--depend", is_flag=True, help="Remove the containers that depend on these first.")
@selectors(cidfile=True, filter_=True)
@click.argument("names", nargs=-1)
@pass_session
def rm(session, force, all_, volumes, timeout, ignore, depend, latest, cidfiles, filters, names):
    """Remove containers."""
    from ..engine.container import check_timeout

    check_timeout(timeout)  # once, before any container is touched
    chosen = targets(session, names, all_=all_, latest=latest, cidfiles=cidfiles, filters=filters,
                     need_one=not filters)
    if depend:
        from .targets import with_dependents

        chosen = with_dependents(session, chosen)
    for batch in ([[one] for one in chosen] if depend else [chosen]):  # --depend: one at a time, dependents first
        run_and_report(session, "remove", batch, force=force, timeout=timeout,
                       volumes=volumes, ignore_missing=force or ignore, missing_exit_code=1)


@click.command(context_settings=CONTEXT)
@click.option("--condition", multiple=True, default=("stopped",), show_default=True,
              help="Wait for this state: created, initialized, running, paused, stopped, exited "
                   "(podman's names; `configured` too).  Repeat for any of several.")
@click.option("-i", "--interval", default="250ms", help="Re-check interval for states the kernel cannot signal.")
@selectors()
@click.argument("names", nargs=-1)
@pass_session
def wait(session, condition, interval, latest, names):
    """Wait for containers to reach a condition (default: to exit); print each
    exit code (-1 for a condition other than stopped or exited)."""
    from ..engine.waiting import parse_condition

    conditions = [parse_condition(item) for item in condition]
    names = targets(session, names, latest=latest)
    seconds = _duration(interval)
    if seconds <= 0:
        raise InvalidArgument(f"invalid interval {interval!r}: must be positive")
    from .parallel import report, run_here

    raise SystemExit(report(run_here(names, lambda name: session.runtime.container(name).wait(
        conditions, interval=seconds))))


@click.command(context_settings=CONTEXT)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output until the container exits.")
@click.option("--tail", type=int, default=-1, help="Only the last N lines (-1: all).")
@click.option("-t", "--timestamps", is_flag=True, help="Prefix each line with its time.")
@click.option("--since", default=None, help="Only lines after this time (RFC3339, Unix time or duration).")
@click.option("--until", default=None, help="Only lines before this time.")
@click.option("-n", "--names", "by_name", is_flag=True, help="Each line's container by name, not ID.")
@click.option("--color", is_flag=True, help="Each container's lines in a colour of their own.")
@selectors()
@click.argument("names", nargs=-1)
@pass_session
def logs(session, follow, tail, timestamps, since, until, by_name, color, latest, names):
    """Print containers' output (k8s-file logs)."""
    from .listing import print_logs

    names = targets(session, names, latest=latest)
    print_logs(session.runtime, names, follow=follow, tail=tail, timestamps=timestamps, since=since, until=until,
               by_name=by_name, color=color)


@click.command(context_settings=CONTEXT)
@click.option("--external", is_flag=True,
              help="Count containers other tools made in husk's storage too (there are none: the answer is the same).")
@click.argument("name")
@pass_session
def exists(session, external, name):
    """Exit 0 when the container exists, 1 when it does not."""
    raise SystemExit(0 if session.runtime.container_exists(name) else 1)


@click.command(context_settings=CONTEXT)
@click.option("--exit-command", is_flag=True, hidden=True,
              help="Run by a monitor when its container exits: silent, and a removed container is fine.")
@click.option("-a", "--all", "all_", is_flag=True, help="Clean up every stopped container.")
@click.option("--rm", "remove", is_flag=True, help="Then remove the container.")
@click.option("--rmi", is_flag=True, help="Then remove the container's image (implies --rm).")
@click.option("--exec", "exec_id", default="", help="Clean up this ended exec session instead of the container.")
@selectors()
@click.argument("names", nargs=-1)
@pass_session
def cleanup(session, exit_command, all_, remove, rmi, exec_id, latest, names):
    """Release the mounts and runtime state of stopped containers (run on exit)."""
    if exec_id:
        if all_ or remove or rmi or len(names) + bool(latest) != 1:
            raise InvalidArgument("--exec cleans up one container's session: one container, without --all, "
                                  "--rm and --rmi")
        from ..engine.exec_session import cleanup_session

        container = session.runtime.container(targets(session, names, latest=latest)[0])
        cleanup_session(container, exec_id)
        click.echo(container.id)
        return
    for name in targets(session, names, all_=all_, latest=latest,
                        states=("configured", "created", "stopped", "exited")):
        try:
            session.runtime.container(name).cleanup(exit_of_monitor=os.getppid() if exit_command else 0)
        except NoSuchContainer:
            if not exit_command:
                raise
            continue
        except HuskError:
            if exit_command:
                continue
            raise
        if remove or rmi:
            container = session.runtime.container(name)
            container.remove()
            if rmi:
                from ..storage.images import remove_image

                remove_image(session.runtime, container.config.image_name)
        if not exit_command:
            click.echo(name)


def _each_named(verb: str, method: str, help: str) -> click.Command:
    """A verb that calls `method` of each container named, printing each name."""
    @click.command(verb, context_settings=CONTEXT, help=help)
    @click.argument("names", nargs=-1, required=True)
    @pass_session
    def command(session, names):
        for name in names:
            getattr(session.runtime.container(name), method)()
            click.echo(name)

    return command


refresh = _each_named("refresh", "refresh",
                      "Tear containers down and bring them back as they were (created, running, paused).")
sync = _each_named("sync", "sync", "Ask the OCI runtime for the real state of containers and record it.")


# -- helpers ------------------------------------------------------------------------------
def _duration(text: str) -> float:
    from ..formats.timestamps import parse_duration_ns

    return parse_duration_ns(text) / 1e9


def register(group: click.Group) -> None:
    container_group = Group("container", help="Manage containers.", context_settings=CONTEXT)
    for command in (create, run, init, start, stop, kill, rm, wait, logs, exists, cleanup, sync, refresh):
        container_group.add_command(command)
    group.add_command(container_group)
    for command in (create, run, init, start, stop, kill, rm, wait, logs):
        group.add_command(command)
