"""podman's run/create flags beyond the basics (issue 12 item 2).

:func:`run_flags` adds the click options; :func:`run_options` turns their
values into the :class:`husk.state.run_options.RunOptions` record the engine
applies at every init; the bookkeeping flags that are the CLI's own
(`--cidfile`, `--replace`, `--env-host`, `--label-file`, `--mount`) are
handled here too, around the engine's create.
"""

from __future__ import annotations

import os

import click

from ..define import InvalidArgument, NoSuchContainer


#: cgroup settings podman takes on run and create, one value each (see husk.engine.run_options.parse_resources)
_RESOURCE_FLAGS = (
    ("cpu-period", "CFS period in microseconds (1000 to 1000000)."),
    ("cpu-quota", "CFS quota in microseconds per period (-1: none)."),
    ("cpu-rt-period", "Realtime period in microseconds."),
    ("cpu-rt-runtime", "Realtime runtime in microseconds per period."),
    ("cpuset-cpus", "CPUs the container may run on (0-3, 0,1)."),
    ("cpuset-mems", "Memory nodes the container may use (0-3, 0,1)."),
    ("memory-reservation", "Memory soft limit (e.g. 32m)."),
    ("memory-swap", "Memory plus swap limit (e.g. 128m; -1: unlimited)."),
    ("memory-swappiness", "Swappiness, 0 to 100."),
    ("blkio-weight", "Block IO weight, 10 to 1000."),
)
#: the repeatable ones
_RESOURCE_LISTS = (
    ("blkio-weight-device", "Block IO weight of a device: DEVICE:WEIGHT."),
    ("device-read-bps", "Read rate limit of a device: DEVICE:RATE (e.g. 1mb)."),
    ("device-write-bps", "Write rate limit of a device: DEVICE:RATE."),
    ("device-read-iops", "Read operations per second of a device: DEVICE:N."),
    ("device-write-iops", "Write operations per second of a device: DEVICE:N."),
    ("device-cgroup-rule", "Allow devices in the device cgroup: 'c 1:3 rwm'."),
    ("cgroup-conf", "A cgroup v2 file's value: KEY=VALUE."),
)


def run_flags(function):
    options = [
        click.option("--cidfile", default="", help="Write the container's id to this file (it must not exist)."),
        click.option("--conmon-pidfile", default="", help="Write the monitor's pid to this file at each start."),
        click.option("--pidfile", default="", help="Write the container's pid to this file at each start."),
        click.option("--replace", is_flag=True, help="Remove a container of the same name first."),
        click.option("--init", is_flag=True, help="Run an init (catatonit) as pid 1 that reaps and forwards signals."),
        click.option("--init-path", default="", help="Path of the init binary (default: catatonit)."),
        click.option("--tz", default="", help="Time zone in the container: local or a zoneinfo name."),
        click.option("--ulimit", multiple=True, help="Resource limit: NAME=SOFT[:HARD] (-1: unlimited)."),
        click.option("--device", multiple=True, help="Add a host device: HOST[:CONTAINER][:PERMISSIONS]."),
        click.option("--sysctl", multiple=True, help="Set a namespaced kernel parameter: NAME=VALUE."),
        click.option("--shm-size", default="", help="Size of /dev/shm (e.g. 64m)."),
        click.option("--mount", "mount_", multiple=True,
                     help="Mount: type=bind,source=,destination=[,ro] | type=tmpfs,destination= | type=devpts,..."),
        click.option("--env-host", is_flag=True, help="Pass the host's whole environment in."),
        click.option("--env-merge", multiple=True,
                     help="Set a variable from the image's: NAME=VALUE where VALUE may say ${NAME} (or ${OTHER})."),
        click.option("--http-proxy", type=click.BOOL, default=True, is_flag=False, flag_value=True,
                     help="Pass the host's proxy variables (http_proxy, https_proxy, ftp_proxy, no_proxy) in."),
        click.option("--unsetenv", multiple=True, help="Unset this default environment variable."),
        click.option("--unsetenv-all", is_flag=True, help="Unset every default environment variable."),
        click.option("--label-file", multiple=True, help="Read labels (KEY=VALUE lines) from a file."),
        click.option("--group-add", multiple=True, help="Add a supplementary group (name or gid)."),
        click.option("--umask", default="", help="The process's umask (default 0022)."),
        click.option("--oom-score-adj", type=int, default=None, help="Adjust the OOM killer's score (-1000 to 1000)."),
        click.option("--pid", "pid_ns", default="", help="PID namespace: host, private, container:NAME, ns:PATH."),
        click.option("--ipc", "ipc_ns", default="", help="IPC namespace: host, private, container:NAME, ns:PATH."),
        click.option("--uts", "uts_ns", default="", help="UTS namespace: host, private, container:NAME, ns:PATH."),
        click.option("--cgroupns", "cgroup_ns", default="", help="Cgroup namespace: host, private, ns:PATH."),
        click.option("--cgroup-parent", default="", help="Cgroup under which the container's cgroup is made."),
        click.option("--userns", default="", help="User namespace: host, auto[:size=N] (keep-id, nomap: rootless)."),
        click.option("--uidmap", multiple=True, help="CONTAINER:HOST:SIZE uid mapping in a new user namespace."),
        click.option("--gidmap", multiple=True, help="CONTAINER:HOST:SIZE gid mapping in a new user namespace."),
        click.option("--subuidname", default="", help="Map the uids of this /etc/subuid user's ranges."),
        click.option("--subgidname", default="", help="Map the gids of this /etc/subgid user's ranges."),
        click.option("--read-only-tmpfs", type=click.BOOL, default=True, is_flag=False, flag_value=True,
                     help="With --read-only, tmpfs on /run, /tmp and /var/tmp (default true)."),
        click.option("--personality", default="", help="Execution domain: LINUX or LINUX32."),
        *[click.option(f"--{flag}", default=None, help=text) for flag, text in _RESOURCE_FLAGS],
        *[click.option(f"--{flag}", multiple=True, help=text) for flag, text in _RESOURCE_LISTS],
        click.option("--oom-kill-disable", is_flag=True, help="Do not let the OOM killer kill the container."),
        click.option("--log-driver", default="", help="k8s-file (default), json-file (the same, as podman), none."),
        click.option("--log-opt", multiple=True, help="Log option: path=FILE, max-size=SIZE, tag=NAME."),
        click.option("--timeout", type=int, default=0, help="Kill the container after it ran this many seconds."),
        click.option("--passwd", type=click.BOOL, default=True, is_flag=False, flag_value=True,
                     help="Add an /etc/passwd entry for a --user the image does not have (default true)."),
        click.option("--passwd-entry", default="",
                     help="The entry --passwd adds: $USERNAME, $UID, $GID, $NAME and $HOME are filled in."),
        click.option("--hostuser", multiple=True, help="Add this host user's /etc/passwd entry (repeatable)."),
        click.option("-a", "--attach", multiple=True, help="Attach to STDIN, STDOUT or STDERR (repeatable)."),
        click.option("--chrootdirs", multiple=True,
                     help="A chroot directory in the container: it gets /etc/hosts and /etc/resolv.conf too."),
        click.option("--systemd", default="true",
                     help="true (systemd's mounts for an init/systemd command), always, or false."),
        click.option("--sdnotify", default="conmon",
                     help="conmon (husk tells NOTIFY_SOCKET READY), container (the container does), ignore."),
        click.option("--cgroups", default="enabled", help="enabled, no-conmon, split, or disabled (crun)."),
        click.option("--image-volume", default="bind", help="The image's VOLUMEs: bind (volumes), tmpfs, ignore."),
        click.option("--rootfs", is_flag=True,
                     help="IMAGE is a directory to run as the root filesystem (DIR:O: under an overlay)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


#: the ones `update` takes too, as podman's update does
UPDATE_FLAGS = tuple(flag for flag, _ in (*_RESOURCE_FLAGS, *_RESOURCE_LISTS)
                     if flag not in ("device-cgroup-rule", "cgroup-conf"))


def update_flags(function):
    """podman's finer resource flags on `update`."""
    for flag, text in reversed((*_RESOURCE_FLAGS, *_RESOURCE_LISTS)):
        if flag in UPDATE_FLAGS:
            many = (flag, text) in _RESOURCE_LISTS
            function = click.option(f"--{flag}", multiple=many, default=() if many else None, help=text)(function)
    return function


def resource_fragment(opts: dict) -> dict:
    """The OCI resources fragment for the finer flags among `opts` (empty: none given)."""
    from ..engine.run_options import parse_resources

    return parse_resources({flag: opts.get(flag.replace("-", "_")) for flag in (*UPDATE_FLAGS, "oom-kill-disable",
                                                                                "device-cgroup-rule", "cgroup-conf")})


def run_options(session, opts: dict):
    """The RunOptions record for the flags above (husk.engine.run_options.from_flags: checked now, a
    bad value creates nothing)."""
    from ..engine.run_options import from_flags

    return from_flags(opts, lambda: session.runtime)


def check_cidfile(path: str) -> None:
    """podman refuses a --cidfile that exists, before it creates anything."""
    if path and os.path.exists(path):
        raise InvalidArgument(f"container id file exists. Ensure another container is not using it or delete {path}")


def write_cidfile(path: str, container_id: str) -> None:
    if path:
        try:
            with open(path, "x", encoding="ascii") as handle:
                handle.write(container_id)
        except OSError as exc:
            raise InvalidArgument(f"opening cidfile: {exc.strerror}: {path}") from None


def replace(session, name: str) -> None:
    """--replace: remove the container called `name`, running or not (nothing when there is none)."""
    if not name:
        raise InvalidArgument("cannot replace container without --name being set")
    try:
        session.runtime.container(name).remove(force=True)
    except NoSuchContainer:
        pass


def host_env(env: list[str], everything: bool, proxies: bool) -> list[str]:
    """--env-host: the host's environment first; --http-proxy (podman's default):
    the host's proxy variables first; -e and --env-file win either way."""
    names = os.environ if everything else [name for name in PROXY_VARIABLES if name in os.environ] if proxies else []
    from ..formats.environment import utf8_text

    return [utf8_text(f"{name}={os.environ[name]}") for name in names] + env


#: what --http-proxy passes on, as podman does
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "ftp_proxy", "FTP_PROXY", "no_proxy",
                   "NO_PROXY")


def read_label_files(paths: tuple[str, ...]) -> list[str]:
    """--label-file: KEY=VALUE lines (blank lines and # comments skipped), before --label's."""
    labels = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                labels += [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]
        except OSError as exc:
            raise InvalidArgument(f"reading label file {path}: {exc.strerror}") from None
    return labels


def parse_mounts(values: tuple[str, ...]):
    """`--mount type=bind|tmpfs|devpts|volume|image,...` as Mount records (an image
    mount's source is the image as typed, resolved at create)."""
    from ..state.records import Mount

    mounts = []
    for value in values:
        fields: dict[str, str] = {}
        flags: list[str] = []
        volume_opts: list[str] = []  # volume-opt=KEY=VALUE may repeat
        for item in value.split(","):
            key, eq, setting = item.partition("=")
            key = key.strip().lower()
            if key == "volume-opt" and eq:
                volume_opts.append(setting)
            elif eq:
                fields[key] = setting
            elif key:
                flags.append(key)
        kind = fields.pop("type", "")
        destination = fields.pop("destination", None) or fields.pop("dst", None) or fields.pop("target", None)
        if not destination:
            raise InvalidArgument(f"--mount {value}: must set target path")
        options = [flag for flag in flags if flag in ("ro", "rw", "readonly")]
        options = ["ro" if flag == "readonly" else flag for flag in options]
        if fields.pop("readonly", fields.pop("ro", "false")).lower() in ("true", "1"):
            options.append("ro")
        if kind == "bind":
            source = fields.pop("source", None) or fields.pop("src", None)
            if not source:
                raise InvalidArgument(f"--mount {value}: must set source path for a bind mount")
            propagation = fields.pop("bind-propagation", "")
            options += [propagation] if propagation else []
            mounts.append(Mount(destination, "bind", os.path.abspath(source), options))
        elif kind == "tmpfs":
            if "tmpfs-size" in fields:
                options.append(f"size={fields.pop('tmpfs-size')}")
            if "tmpfs-mode" in fields:
                options.append(f"mode={fields.pop('tmpfs-mode')}")
            mounts.append(Mount(destination, "tmpfs", "tmpfs", options))
        elif kind == "devpts":
            mounts.append(Mount(destination, "devpts", "devpts",
                                options + ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]))
        elif kind == "volume":
            from ..presentation.mounts import parse_volume_mount

            wanted = {**{flag: "" for flag in flags if flag not in ("ro", "rw", "readonly")}, **fields,
                      "dst": destination}
            if "ro" in options:
                wanted["ro"] = "true"
            mounts.append(parse_volume_mount(wanted, value, volume_opts))  # it refuses what it does not know
            continue
        elif kind == "image":
            source = fields.pop("source", None) or fields.pop("src", None)
            if not source:
                raise InvalidArgument(f"--mount {value}: must set source image for an image mount")
            writable = fields.pop("rw", fields.pop("readwrite", "true" if "rw" in options else "false")).lower()
            if writable not in ("true", "false", "1", "0"):
                raise InvalidArgument(f"--mount {value}: rw must be true or false")
            mounts.append(Mount(destination, "image", source, ["rw" if writable in ("true", "1") else "ro"]))
        else:
            raise InvalidArgument(f"invalid filesystem type {kind!r}")
        if fields:
            raise InvalidArgument(f"--mount {value}: unknown option {next(iter(fields))!r}")
    return mounts
