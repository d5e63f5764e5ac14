"""podman's run/create flags that shape the OCI spec (issue 12): parsing and
checking at create time, and :func:`apply` to the spec that
:func:`husk.engine.spec.generate` made, at every init.

Each parser takes the flag's values as the user typed them and raises
:class:`InvalidArgument` with podman's wording, so a bad value creates nothing.
"""

from __future__ import annotations

import os
import re
import resource
from typing import TYPE_CHECKING, Any, Callable

from ..define import InvalidArgument
from ..state.run_options import Device, RunOptions

if TYPE_CHECKING:
    from .container import Container
    from .runtime import Runtime

#: where podman puts the init binary in the container
INIT_DESTINATION = "/run/podman-init"
#: where catatonit is found when --init-path is not given (Debian's, then podman's)
INIT_CANDIDATES = ("/usr/bin/catatonit", "/usr/libexec/podman/catatonit")
NAMESPACE_FLAGS = {"pid": "pid", "ipc": "ipc", "uts": "uts", "cgroupns": "cgroup"}
_RLIMITS = {name[len("RLIMIT_"):].lower(): name for name in dir(resource) if name.startswith("RLIMIT_")}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def parse_ulimits(values: tuple[str, ...] | list[str]) -> dict[str, list[int]]:
    """`--ulimit nofile=1024[:2048]`; -1 is unlimited."""
    result = {}
    for value in values:
        name, eq, limits = value.partition("=")
        if not eq or name.lower() not in _RLIMITS:
            raise InvalidArgument(f"ulimit option {value!r} requires name=SOFT:HARD, failed to be parsed: "
                                  f"invalid ulimit type: {name}")
        soft_text, _, hard_text = limits.partition(":")
        try:
            soft = int(soft_text)
            hard = int(hard_text) if hard_text else soft
        except ValueError:
            raise InvalidArgument(f"ulimit option {value!r}: invalid value") from None
        if soft > hard and hard != -1:
            raise InvalidArgument(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
        result[_RLIMITS[name.lower()]] = [soft, hard]
    return result


def parse_devices(values: tuple[str, ...] | list[str]) -> list[Device]:
    """`--device /dev/x[:/dev/y][:rwm]`: the host path must be a device."""
    devices = []
    for value in values:
        parts = value.split(":")
        host = parts[0]
        container, permissions = host, "rwm"
        if len(parts) == 2:
            if re.fullmatch(r"[rwm]+", parts[1]):
                permissions = parts[1]
            else:
                container = parts[1]
        elif len(parts) == 3:
            container, permissions = parts[1], parts[2]
        elif len(parts) > 3:
            raise InvalidArgument(f"invalid device specification: {value}")
        if not re.fullmatch(r"[rwm]+", permissions):
            raise InvalidArgument(f"invalid device mode: {permissions}")
        if not host.startswith("/") or not container.startswith("/"):
            raise InvalidArgument(f"invalid device specification: {value}: paths must be absolute")
        try:
            import stat

            if not stat.S_ISCHR(os.stat(host).st_mode) and not stat.S_ISBLK(os.stat(host).st_mode):
                raise InvalidArgument(f"{host} is not a device")
        except FileNotFoundError:
            raise InvalidArgument(f"stat {host}: no such file or directory") from None
        devices.append(Device(host, container, permissions))
    return devices


def parse_sysctls(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`--sysctl name=value`: namespaced sysctls only, as podman allows them."""
    result = {}
    for value in values:
        name, eq, setting = value.partition("=")
        if not eq or not name:
            raise InvalidArgument(f"{value} is invalid, sysctl values must be in the form of KEY=VALUE")
        if not (name.startswith(("net.", "fs.mqueue.")) or name in _IPC_SYSCTLS or name.startswith("kernel.shm")
                or name.startswith("kernel.msg") or name.startswith("kernel.sem")):
            raise InvalidArgument(f"sysctl {name!r} is not allowed: it is not namespaced")
        result[name] = setting
    return result


_IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
                "kernel.shmmni", "kernel.shm_rmid_forced", "kernel.domainname", "kernel.hostname"}


def parse_size(value: str, flag: str) -> int:
    """`64m`, `1g`, `1024`: bytes, as podman's units parser reads them."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([bkmg]?)b?\s*", value.lower())
    if not match:
        raise InvalidArgument(f"invalid size {value!r} for {flag}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def parse_umask(value: str) -> int:
    if not re.fullmatch(r"[0-7]{1,4}", value):
        raise InvalidArgument(f"invalid umask string {value}")
    return int(value, 8)


def parse_namespace(flag: str, value: str, lookup: Callable[[str], str]) -> str:
    """host, private, container:NAME (resolved to its id by `lookup`), ns:PATH."""
    if value in ("host", "private") or (flag == "cgroupns" and value == "private"):
        return value
    kind, _, target = value.partition(":")
    if kind == "container" and target and flag != "cgroupns":
        return f"container:{lookup(target)}"
    if kind == "ns" and target:
        if not os.path.exists(target):
            raise InvalidArgument(f"cannot find specified {flag} namespace path {target!r}")
        return value
    raise InvalidArgument(f"invalid --{flag} value {value!r}: host, private, container:NAME or ns:PATH")


#: the commands `--systemd true` takes for systemd (podman's list, and any `.../systemd`)
SYSTEMD_COMMANDS = ("/sbin/init", "/usr/sbin/init", "/usr/local/sbin/init")
#: podman's tmpfs mounts for a systemd container
_SYSTEMD_TMPFS = {"/run": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"],
                  "/run/lock": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"],
                  "/tmp": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"],
                  "/var/log/journal": ["rw", "rprivate", "nosuid", "nodev"]}
#: where a container given the caller's notify socket (`--sdnotify container`) finds it, as in podman
NOTIFY_DESTINATION = "/run/notify/notify.sock"


def choose(flag: str, value: str, choices: tuple[str, ...]) -> str:
    """One of a flag's fixed values, with podman's message otherwise."""
    if value not in choices:
        raise InvalidArgument(f"invalid --{flag} value {value!r}: must be one of {', '.join(choices)}")
    return value


def is_systemd(mode: str, args: list[str]) -> bool:
    """`--systemd`: always, never (false), or (true) when the command is init or systemd."""
    if mode != "true":
        return mode == "always"
    return bool(args) and (args[0] in SYSTEMD_COMMANDS or os.path.basename(args[0]) == "systemd")


def check_cgroups(mode: str, runtime_name: str) -> str:
    """`--cgroups`: enabled, no-conmon and split are what husk does anyway (the
    monitor has no cgroup of its own; the container's is made under the caller's);
    disabled needs crun's `--cgroup-manager=disabled`."""
    choose("cgroups", mode, ("enabled", "disabled", "no-conmon", "split"))
    if mode == "disabled" and runtime_name != "crun":
        raise InvalidArgument(f"cannot disable cgroups with the {runtime_name} runtime: --cgroups=disabled needs crun")
    return mode


def check_tz(value: str) -> str:
    if value and value != "local" and (".." in value.split("/") or value.startswith("/")
                                       or not os.path.isfile(os.path.join("/usr/share/zoneinfo", value))):
        raise InvalidArgument(f"finding timezone: unknown time zone {value}")
    return value


def init_binary(options: RunOptions) -> str:
    path = options.init_path or next((p for p in INIT_CANDIDATES if os.path.exists(p)), "")
    if not path or not os.path.isfile(path):
        raise InvalidArgument(f"container-init binary not found on the host: {path or INIT_CANDIDATES[0]} "
                              "(install catatonit)")
    return path


def parse_resources(values: dict) -> dict:
    """The OCI `linux.resources` fragment for podman's finer resource flags
    (`values` by flag name without dashes; None or empty: not given)."""
    fragment: dict[str, Any] = {}

    def number(flag: str, low: int | None = None, high: int | None = None) -> int | None:
        text = values.get(flag)
        if text in (None, ""):
            return None
        try:
            value = int(text)
        except ValueError:
            raise InvalidArgument(f"invalid value {text!r} for --{flag}: not a number") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise InvalidArgument(f"invalid value {value} for --{flag}: must be {low} to {high}")
        return value

    cpu = {"period": number("cpu-period", 1000, 1000000), "quota": number("cpu-quota", -1),
           "realtimePeriod": number("cpu-rt-period", 0), "realtimeRuntime": number("cpu-rt-runtime", -1),
           "cpus": _cpuset(values.get("cpuset-cpus"), "cpuset-cpus"),
           "mems": _cpuset(values.get("cpuset-mems"), "cpuset-mems")}
    memory = {"reservation": _size(values.get("memory-reservation"), "--memory-reservation"),
              "swap": -1 if values.get("memory-swap") == "-1" else _size(values.get("memory-swap"), "--memory-swap"),
              "swappiness": number("memory-swappiness", 0, 100),
              "disableOOMKiller": True if values.get("oom-kill-disable") else None}
    block = {"weight": number("blkio-weight", 10, 1000),
             "weightDevice": [{**_device_numbers(path), "weight": int(weight)} for path, weight in
                              _device_pairs(values.get("blkio-weight-device"), "blkio-weight-device", False)],
             **{key: [{**_device_numbers(path), "rate": rate} for path, rate in
                      _device_pairs(values.get(flag), flag, flag.endswith("bps"))]
                for flag, key in (("device-read-bps", "throttleReadBpsDevice"),
                                  ("device-write-bps", "throttleWriteBpsDevice"),
                                  ("device-read-iops", "throttleReadIOPSDevice"),
                                  ("device-write-iops", "throttleWriteIOPSDevice"))}}
    if (block["weight"] is not None or block["weightDevice"]) and not _host_has_block_weights():
        flag = "--blkio-weight" if block["weight"] is not None else "--blkio-weight-device"
        raise InvalidArgument(f"{flag}: this host's block IO controller has no weights (no BFQ or CFQ "
                              "scheduler)")
    for name, part in (("cpu", cpu), ("memory", memory), ("blockIO", block)):
        part = {key: value for key, value in part.items() if value not in (None, [])}
        if part:
            fragment[name] = part
    rules = [_device_rule(rule) for rule in values.get("device-cgroup-rule") or ()]
    if rules:
        fragment["devices"] = rules
    unified = dict(_cgroup_setting(item) for item in values.get("cgroup-conf") or ())
    if unified:
        if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            raise InvalidArgument("--cgroup-conf sets cgroup v2 files: this host runs cgroup v1")
        fragment["unified"] = unified
    return fragment


def _cgroup_setting(item: str) -> tuple[str, str]:
    """--cgroup-conf KEY=VALUE: KEY a file of the container's own cgroup (CONTROLLER.NAME: no path
    out of it), VALUE one line."""
    key, eq, value = item.partition("=")
    if not eq or not re.fullmatch(r"[a-z][a-z0-9_]*\.[A-Za-z0-9_.-]+", key) or "\n" in value:
        raise InvalidArgument(f"invalid --cgroup-conf {item!r}: KEY=VALUE, KEY a cgroup v2 file such as "
                              "memory.high")
    return key, value


def _host_has_block_weights() -> bool:
    return any(os.path.exists(os.path.join("/sys/fs/cgroup", path)) for path in (
        "blkio/blkio.weight", "blkio/blkio.bfq.weight", "io.weight", "io.bfq.weight"))


def _size(text: str | None, flag: str) -> int | None:
    return parse_size(text, flag) if text else None


def _cpuset(text: str | None, flag: str) -> str | None:
    if text and not re.fullmatch(r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*", text):
        raise InvalidArgument(f"invalid value {text!r} for --{flag}: a list like 0-2,4")
    return text or None


def _device_pairs(items, flag: str, sizes: bool) -> list[tuple[str, int]]:
    pairs = []
    for item in items or ():
        path, colon, value = item.rpartition(":")
        if not colon or not path.startswith("/"):
            raise InvalidArgument(f"invalid value {item!r} for --{flag}: DEVICE:VALUE")
        pairs.append((path, parse_size(value, f"--{flag}") if sizes else int(value) if value.isdigit()
                      else _bad(item, flag)))
    return pairs


def _bad(item: str, flag: str):
    raise InvalidArgument(f"invalid value {item!r} for --{flag}: DEVICE:NUMBER")


def _device_numbers(path: str) -> dict[str, int]:
    import stat

    try:
        info = os.stat(path)
    except OSError as exc:
        raise InvalidArgument(f"{path}: {exc.strerror}") from None
    if not stat.S_ISBLK(info.st_mode):
        raise InvalidArgument(f"{path} is not a block device")
    return {"major": os.major(info.st_rdev), "minor": os.minor(info.st_rdev)}


def _device_rule(rule: str) -> dict[str, Any]:
    """`c 1:3 rwm`, `b *:* r`, `a`: a device cgroup rule, as podman writes them."""
    match = re.fullmatch(r"([abc])(?: (\*|[0-9]+):(\*|[0-9]+)(?: ([rwm]{1,3}))?)?", rule.strip())
    if not match:
        raise InvalidArgument(f"invalid device cgroup rule {rule!r}: TYPE MAJOR:MINOR ACCESS, e.g. 'c 1:3 rwm'")
    kind, major, minor, access = match.groups()
    entry: dict[str, Any] = {"allow": True, "type": kind, "access": access or "rwm"}
    if major and major != "*":
        entry["major"] = int(major)
    if minor and minor != "*":
        entry["minor"] = int(minor)
    return entry


# -- at init ------------------------------------------------------------------------

def apply(spec: dict[str, Any], container: "Container", rootfs: str, userdata: str) -> None:
    """Edit `spec` for the container's RunOptions; the user's own mounts win
    over what the options would mount at the same place."""
    options = container.config.run_options
    notify_socket()  # out of the environment before the monitor and runtime start
    user_mounts = {os.path.normpath(mount.destination) for mount in container.config.mounts}
    process, linux = spec["process"], spec["linux"]
    if options.ulimits:
        limits = {item["type"]: item for item in process["rlimits"]}
        for name, (soft, hard) in options.ulimits.items():
            unlimited = 2 ** 64 - 1
            limits[name] = {"type": name, "soft": unlimited if soft < 0 else soft,
                            "hard": unlimited if hard < 0 else hard}
        process["rlimits"] = list(limits.values())
    if options.env_merge:
        process["env"] = merge_env(process["env"], options.env_merge)
    if options.unsetenv_all or options.unsetenv:
        unset = set(options.unsetenv)
        process["env"] = [] if options.unsetenv_all else [
            item for item in process["env"] if item.partition("=")[0] not in unset]
    if options.log_path:  # readers look at the usual place: it points at the user's file
        usual = container.runtime.paths.log_path(container.id)
        if not os.path.islink(usual):
            os.makedirs(os.path.dirname(options.log_path), exist_ok=True)
            if os.path.exists(usual):
                os.unlink(usual)
            os.symlink(options.log_path, usual)
    _passwd(spec, options, rootfs, userdata, user_mounts)
    if options.umask >= 0:
        process["user"]["umask"] = options.umask
    if options.oom_score_adj is not None:
        process["oomScoreAdj"] = options.oom_score_adj
    if options.group_add:
        from .users import group_names

        by_name = {name: gid for gid, name in group_names(rootfs).items()}
        gids = process["user"].setdefault("additionalGids", [])
        for group in options.group_add:
            gid = int(group) if group.isdigit() else by_name.get(group)
            if gid is None:
                raise InvalidArgument(f"unable to find group {group}: no matching entries in group file")
            if gid not in gids:
                gids.append(gid)
    if options.resources:
        _merge(linux.setdefault("resources", {}), options.resources)
    if options.personality:
        if container.config.runtime == "runc":  # runc 1.1 drops linux.personality without a word
            raise InvalidArgument("--personality: runc 1.1 ignores it; use --runtime crun")
        linux["personality"] = {"domain": options.personality}
    if options.sysctls:
        linux["sysctl"] = dict(options.sysctls)
    if options.cgroup_parent and "cgroupsPath" in linux:  # none without cgroups (rootless on v1)
        linux["cgroupsPath"] = f"{options.cgroup_parent.rstrip('/')}/{linux['cgroupsPath'].rsplit('/', 1)[-1]}"
    _namespaces(spec, options.namespaces, lambda other: _running_pid(container, other))
    if options.uid_mappings:
        from .userns import add_to_spec

        kind, _, target = options.userns.partition(":")
        path = ""  # --userns=ns:PATH and container:ID join that namespace, whose maps were recorded
        if kind == "ns":
            path = target
        elif kind == "container":
            path = f"/proc/{_running_pid(container, target)}/ns/user"
        add_to_spec(spec, options.uid_mappings, options.gid_mappings, path)
        if options.userns == "keep-id" and not container.config.user:  # podman: the user's own ids inside
            from .userns import keep_id_user

            user = spec["process"]["user"]
            user["uid"], user["gid"] = keep_id_user(options.uid_mappings, options.gid_mappings)
    mounts = spec["mounts"]
    if options.shm_size and "/dev/shm" not in user_mounts:
        for mount in mounts:
            if mount["destination"] == "/dev/shm":
                mount["options"] = [o for o in mount["options"] if not o.startswith("size=")] + [
                    f"size={options.shm_size}"]
    if not options.read_only_tmpfs:
        spec["mounts"] = mounts = [m for m in mounts if not (
            m["destination"] in ("/tmp", "/var/tmp", "/run") and m["type"] == "tmpfs"
            and m["destination"] not in user_mounts)]
    if options.devices:
        _devices(linux, options.devices)
    if options.tz and "/etc/localtime" not in user_mounts:
        source = "/etc/localtime" if options.tz == "local" else os.path.join("/usr/share/zoneinfo", options.tz)
        copy = os.path.join(userdata, "localtime")
        import shutil  # here, not at the top: shutil imports bz2 and lzma (~1 ms of every create)

        shutil.copyfile(os.path.realpath(source), copy)
        mounts.append({"destination": "/etc/localtime", "type": "bind", "source": copy,
                       "options": ["bind", "rprivate", "ro"]})
    if options.init:
        mounts.append({"destination": INIT_DESTINATION, "type": "bind", "source": init_binary(options),
                       "options": ["bind", "rprivate", "ro"]})
        process["args"] = [INIT_DESTINATION, "--", *process["args"]]
    _systemd(spec, options, user_mounts)
    _chrootdirs(spec, options, rootfs)
    _sdnotify(spec, options)
    if options.cgroups == "disabled":
        linux.pop("cgroupsPath", None)
        linux.pop("resources", None)
    hooks_dirs = [*options.hooks_dirs, *container.runtime.hooks_dirs]
    if hooks_dirs:  # last: a hook's `commands` match the process as it will run
        from .oci_hooks import add_to_spec

        add_to_spec(spec, hooks_dirs)


def _systemd(spec: dict[str, Any], options: RunOptions, user_mounts: set[str]) -> None:
    """podman's set-up for a systemd init: tmpfs on /run, /run/lock, /tmp and
    /var/log/journal, a writable cgroup tree, and container=podman (its stop
    signal, SIGRTMIN+3, is chosen at create)."""
    if not is_systemd(options.systemd, spec["process"]["args"]):
        return
    mounts = [m for m in spec["mounts"] if m["destination"] not in _SYSTEMD_TMPFS or m["destination"] in user_mounts]
    for destination, tmpfs_options in _SYSTEMD_TMPFS.items():
        if destination not in user_mounts:
            mounts.append({"destination": destination, "type": "tmpfs", "source": "tmpfs",
                           "options": list(tmpfs_options)})
    for mount in mounts:
        if mount["destination"] == "/sys/fs/cgroup":
            mount["options"] = [o for o in mount["options"] if o != "ro"] + ["rw"]
    spec["mounts"] = mounts
    spec["process"]["env"] = merge_env(spec["process"]["env"], ["container=podman"])


def _chrootdirs(spec: dict[str, Any], options: RunOptions, rootfs: str) -> None:
    """`--chrootdirs`: each directory that exists gets the container's
    /etc/hosts and /etc/resolv.conf at its own etc/, as podman binds them."""
    sources = {m["destination"]: m["source"] for m in spec["mounts"]
               if m["destination"] in ("/etc/hosts", "/etc/resolv.conf") and m["type"] == "bind"}
    for directory in options.chrootdirs:
        if not os.path.isdir(os.path.join(rootfs, directory.lstrip("/"))):
            continue
        for destination, source in sources.items():
            spec["mounts"].append({"destination": os.path.join(directory, destination.lstrip("/")),
                                   "type": "bind", "source": source, "options": ["bind", "rprivate"]})


def _sdnotify(spec: dict[str, Any], options: RunOptions) -> None:
    """`--sdnotify container`: the caller's NOTIFY_SOCKET is bound into the
    container, which tells systemd READY itself (conmon and ignore: see
    husk.engine.lifecycle)."""
    socket_path = notify_socket()
    if options.sdnotify != "container" or not socket_path.startswith("/"):
        return
    spec["mounts"].append({"destination": NOTIFY_DESTINATION, "type": "bind", "source": socket_path,
                           "options": ["bind", "rprivate"]})
    spec["process"]["env"] = merge_env(spec["process"]["env"], [f"NOTIFY_SOCKET={NOTIFY_DESTINATION}"])


_NOTIFY_SOCKET: list[str] = []


def notify_socket() -> str:
    """The caller's NOTIFY_SOCKET, taken out of this process's environment the
    first time: the runtimes must not see it (runc would wait for READY
    itself), as podman hides it from them."""
    if not _NOTIFY_SOCKET:
        _NOTIFY_SOCKET.append(os.environ.pop("NOTIFY_SOCKET", ""))
    return _NOTIFY_SOCKET[0]


def notify_ready(options: RunOptions, monitor_pid: int) -> None:
    """`--sdnotify conmon` (the default): once the container runs, tell the
    caller's systemd (NOTIFY_SOCKET) READY=1 with the monitor as MAINPID, as
    podman's conmon does.  Nothing without NOTIFY_SOCKET."""
    path = notify_socket()
    if options.sdnotify != "conmon" or not path:
        return
    import socket  # only here: ~1.2 ms of every start

    address = "\0" + path[1:] if path.startswith("@") else path
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        try:
            notify.sendto(f"MAINPID={monitor_pid}\nREADY=1\n".encode(), address)
        except OSError as exc:
            from ..define import logger

            logger().warning("sd-notify %s: %s", path, exc)


def merge_env(env: list[str], merges: list[str]) -> list[str]:
    """--env-merge: each NAME=VALUE set, its ${VAR}s taken from the environment as it is (the image's and -e's)."""
    current = dict(item.partition("=")[::2] for item in env)
    for item in merges:
        name, _, value = item.partition("=")
        current[name] = re.sub(r"\$\{(\w+)\}", lambda match: current.get(match.group(1), ""), value)
    return [f"{name}={value}" for name, value in current.items()]


def _running_pid(container: "Container", other_id: str) -> int:
    """The pid of the container whose namespace --pid/--ipc/--uts container:NAME joins."""
    from ..define import State

    other = container.runtime.container(other_id)
    if other.state.state not in (State.RUNNING, State.PAUSED) or not other.state.pid:
        raise InvalidArgument(f"cannot join the namespaces of container {other.config.name}: it is not running")
    return other.state.pid


def write_pid_files(container: "Container") -> None:
    """--pidfile and --conmon-pidfile, written at each init (podman's conmon writes them then)."""
    options = container.config.run_options
    for path, pid in ((options.pidfile, container.state.pid), (options.conmon_pidfile, container.state.monitor_pid)):
        if path:
            with open(path, "w", encoding="ascii") as handle:
                handle.write(str(pid))


#: podman's default --passwd-entry
DEFAULT_PASSWD_ENTRY = "$USERNAME:*:$UID:$GID:$NAME:$HOME:/bin/sh"


def _passwd(spec: dict[str, Any], options: RunOptions, rootfs: str, userdata: str, user_mounts: set[str]) -> None:
    """--hostuser and --passwd(-entry): the image's /etc/passwd with entries added, bound over it."""
    if "/etc/passwd" in user_mounts:
        return
    import pwd

    from ..storage import rootpath

    text = rootpath.read_text(rootfs, "/etc/passwd") or ""
    uids = {line.split(":")[2] for line in text.splitlines() if line.count(":") >= 6}
    extra = []
    for name in options.hostuser:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
        if str(entry.pw_uid) not in uids:
            extra.append(":".join((entry.pw_name, "x", str(entry.pw_uid), str(entry.pw_gid), entry.pw_gecos,
                                   entry.pw_dir, entry.pw_shell)))
            uids.add(str(entry.pw_uid))
    user = spec["process"]["user"]
    if options.passwd and str(user["uid"]) not in uids and (options.passwd_entry or user["uid"] != 0):
        values = {"USERNAME": str(user["uid"]), "UID": str(user["uid"]), "GID": str(user["gid"]),
                  "NAME": "container user", "HOME": spec["process"].get("cwd") or "/"}
        extra.append(re.sub(r"\$(USERNAME|UID|GID|NAME|HOME)", lambda match: values[match.group(1)],
                            options.passwd_entry or DEFAULT_PASSWD_ENTRY))
    if not extra:
        return
    path = os.path.join(userdata, "passwd")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text + ("" if not text or text.endswith("\n") else "\n") + "\n".join(extra) + "\n")
    spec["mounts"].append({"destination": "/etc/passwd", "type": "bind", "source": path,
                           "options": ["bind", "rprivate", "ro"]})


def merged(base: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `fragment` merged in (nested dicts merged, lists appended,
    except that a device's weight or throttle replaces the one it had: `update
    --device-read-iops DEV:N` twice leaves one rate for DEV, as podman's)."""
    import copy

    result = copy.deepcopy(base)
    _merge(result, fragment)
    return result


def _merge(target: dict[str, Any], fragment: dict[str, Any]) -> None:
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, list) and isinstance(target.get(key), list):
            replaced = {_device_setting(entry) for entry in value} - {None}
            target[key] = [entry for entry in target[key] if _device_setting(entry) not in replaced] + value
        else:
            target[key] = value


def _device_setting(entry: Any) -> tuple[int, int] | None:
    """(major, minor) of a block IO entry (a weight or a rate of one device); None for others."""
    if isinstance(entry, dict) and ("rate" in entry or "weight" in entry) and "major" in entry:
        return entry["major"], entry.get("minor")
    return None


def _namespaces(spec: dict[str, Any], modes: dict[str, str], container_pid: Callable[[str], int]) -> None:
    linux = spec["linux"]
    for flag, mode in modes.items():
        kind = NAMESPACE_FLAGS[flag]
        rest = [ns for ns in linux["namespaces"] if ns["type"] != kind]
        if mode == "host":
            linux["namespaces"] = rest
            if kind == "uts":
                spec.pop("hostname", None)  # the host's own: a runtime refuses to set it
        elif mode == "private":
            linux["namespaces"] = rest + [{"type": kind}]
        elif mode.startswith("ns:"):
            linux["namespaces"] = rest + [{"type": kind, "path": mode[3:]}]
        elif mode.startswith("container:"):
            pid = container_pid(mode[len("container:"):])
            linux["namespaces"] = rest + [{"type": kind, "path": f"/proc/{pid}/ns/{kind}"}]


def _devices(linux: dict[str, Any], devices: list[Device]) -> None:
    import stat

    for device in devices:
        info = os.stat(device.host)
        kind = "c" if stat.S_ISCHR(info.st_mode) else "b"
        major, minor = os.major(info.st_rdev), os.minor(info.st_rdev)
        linux.setdefault("devices", []).append({
            "path": device.container, "type": kind, "major": major, "minor": minor,
            "fileMode": stat.S_IMODE(info.st_mode), "uid": info.st_uid, "gid": info.st_gid})
        linux["resources"].setdefault("devices", []).append({
            "allow": True, "type": kind, "major": major, "minor": minor, "access": device.permissions})


def parse_log_driver(value: str) -> str:
    """podman's log drivers: what husk's monitor writes (k8s-file; json-file is its alias, as in podman),
    none, or journald where a journal runs (the monitor sends each line there too); journald where
    none runs and passthrough are refused, saying why."""
    if value == "journald":
        from ..state.journal import JOURNAL_SOCKET, journal_running

        if journal_running():
            return value
        raise InvalidArgument(f"--log-driver journald: no systemd journal is running on this host "
                              f"({JOURNAL_SOCKET} is missing); use k8s-file or none")
    if value == "passthrough":
        raise InvalidArgument("--log-driver passthrough: husk's monitor always holds the container's stdio "
                              "(attach, logs); use k8s-file or none")
    if value not in ("", "k8s-file", "json-file", "none"):
        raise InvalidArgument(f"invalid log driver: {value}: use k8s-file, json-file, journald or none")
    return value


def parse_log_options(values: tuple[str, ...] | list[str]) -> dict:
    """`--log-opt path=FILE|max-size=SIZE|tag=NAME` as RunOptions' log fields."""
    result: dict = {}
    for value in values:
        key, eq, setting = value.partition("=")
        if key == "path" and eq and setting:
            result["log_path"] = os.path.abspath(setting)
        elif key == "max-size" and eq:
            result["log_max_size"] = parse_size(setting, "--log-opt max-size")
        elif key == "tag" and eq:
            result["log_tag"] = setting
        else:
            raise InvalidArgument(f"--log-opt {value}: unknown log option (path=, max-size=, tag=)")
    return result


def absolute_in_container(path: str, flag: str) -> str:
    """A path in the container as --chrootdirs takes it: absolute, normalised."""
    if not path.startswith("/"):
        raise InvalidArgument(f"{flag} {path!r}: must be an absolute path in the container")
    return os.path.normpath(path)


def check_host_user(name: str) -> str:
    """--hostuser: a user (name or uid) of this host's /etc/passwd."""
    import pwd

    try:
        pwd.getpwnam(name) if not name.isdigit() else pwd.getpwuid(int(name))
    except KeyError:
        raise InvalidArgument(f"--hostuser {name}: no such user on the host") from None
    return name


# -- the flags as one record --------------------------------------------------------------------

#: the flags parse_resources reads (by their names without dashes in `from_flags`' opts)
RESOURCE_FLAGS = ("cpu-period", "cpu-quota", "cpu-rt-period", "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems",
                  "memory-reservation", "memory-swap", "memory-swappiness", "blkio-weight", "blkio-weight-device",
                  "device-read-bps", "device-write-bps", "device-read-iops", "device-write-iops",
                  "device-cgroup-rule", "cgroup-conf", "oom-kill-disable")


def from_flags(opts: dict, runtime_of: Callable[[], "Runtime"]) -> RunOptions:
    """The RunOptions record for podman's run/create flags, checked now (a bad value creates
    nothing).  `opts`: the values by click's parameter names (`pid_ns`, `shm_size`, `cgroup_conf`,
    ...; a missing one is the flag's default).  The one reader of these flags: `husk run`'s and the
    libpod API's create (its SpecGenerator given as the flags' values), so the service takes nothing
    the flags would refuse.  `runtime_of()`: the runtime (container:NAME, user namespaces)."""
    from .userns import run_options as userns_options

    def get(key: str, default: Any = ""):
        value = opts.get(key)
        return default if value in (None, "") else value

    namespaces = {}
    for flag, key in (("pid", "pid_ns"), ("ipc", "ipc_ns"), ("uts", "uts_ns"), ("cgroupns", "cgroup_ns")):
        if get(key):
            namespaces[flag] = parse_namespace(flag, get(key), lambda name: runtime_of().container(name).id)
    oom_score_adj = opts.get("oom_score_adj")
    if oom_score_adj is not None and not -1000 <= oom_score_adj <= 1000:
        raise InvalidArgument(f"oom-score-adj {oom_score_adj} is not in the range -1000 to 1000")
    if get("timeout", 0) < 0:
        raise InvalidArgument(f"invalid --timeout {get('timeout')}: a number of seconds (0: no limit)")
    personality = get("personality").upper()
    if personality not in ("", "LINUX", "LINUX32"):
        raise InvalidArgument(f"invalid personality {get('personality')!r}: LINUX or LINUX32")
    for item in get("env_merge", ()):
        if "=" not in item or item.startswith("="):
            raise InvalidArgument(f"invalid --env-merge {item!r}: NAME=VALUE")
    resources = parse_resources({flag: opts.get(flag.replace("-", "_")) for flag in RESOURCE_FLAGS})
    check_swap(resources, bool(opts.get("memory")))
    options = RunOptions(
        ulimits=parse_ulimits(get("ulimit", ())), devices=parse_devices(get("device", ())),
        sysctls=parse_sysctls(get("sysctl", ())),
        shm_size=parse_size(get("shm_size"), "--shm-size") if get("shm_size") else 0,
        init=bool(get("init", False) or get("init_path")), init_path=get("init_path"), tz=check_tz(get("tz")),
        unsetenv=list(get("unsetenv", ())), unsetenv_all=get("unsetenv_all", False),
        group_add=list(get("group_add", ())), umask=parse_umask(get("umask")) if get("umask") else -1,
        oom_score_adj=oom_score_adj, namespaces=namespaces, cgroup_parent=get("cgroup_parent"),
        read_only_tmpfs=get("read_only_tmpfs", True), pidfile=_absolute(get("pidfile")),
        conmon_pidfile=_absolute(get("conmon_pidfile")), attach=parse_attach(get("attach", ())),
        passwd=get("passwd", True), passwd_entry=get("passwd_entry"),
        hostuser=[check_host_user(name) for name in get("hostuser", ())], timeout=get("timeout", 0),
        log_driver=parse_log_driver(get("log_driver")), **parse_log_options(get("log_opt", ())),
        env_merge=list(get("env_merge", ())), personality=personality,
        chrootdirs=[absolute_in_container(d, "--chrootdirs") for d in get("chrootdirs", ())],
        systemd=choose("systemd", get("systemd", "true").lower(), ("true", "false", "always")),
        sdnotify=choose("sdnotify", get("sdnotify", "conmon"), ("conmon", "container", "ignore")),
        cgroups=choose("cgroups", get("cgroups", "enabled"), ("enabled", "disabled", "no-conmon", "split")),
        **userns_options(runtime_of, get("userns"), get("uidmap", ()), get("gidmap", ()), get("subuidname"),
                         get("subgidname")),
        resources=resources)
    if options.init:
        init_binary(options)
    return options


def check_swap(resources: dict, memory_given: bool) -> None:
    """--memory-swap (other than -1) needs a memory limit, as podman says."""
    if resources.get("memory", {}).get("swap") not in (None, -1) and not memory_given:
        raise InvalidArgument("you must provide a memory limit when specifying memory swap (--memory)")


def _absolute(path: str) -> str:
    return os.path.abspath(path) if path else ""


def parse_attach(values) -> list[str]:
    """--attach: the streams named (stdin, stdout, stderr; repeated or comma separated)."""
    streams = []
    for value in values:
        for name in value.lower().split(","):
            if name not in ("stdin", "stdout", "stderr"):
                raise InvalidArgument(f"invalid stream {name!r} for --attach - must be one of stdin, stdout, or "
                                      "stderr")
            streams.append(name)
    return streams


#: an OCI linux.resources fragment's fields (beyond husk's limits) and the flags that set them
_FRAGMENT_FLAGS = {"cpu": {"realtimePeriod": "cpu-rt-period", "realtimeRuntime": "cpu-rt-runtime",
                           "cpus": "cpuset-cpus", "mems": "cpuset-mems", "period": "cpu-period",
                           "quota": "cpu-quota"},
                   "memory": {"reservation": "memory-reservation", "swap": "memory-swap",
                              "swappiness": "memory-swappiness", "disableOOMKiller": "oom-kill-disable"},
                   "blockIO": {"weight": "blkio-weight"}}
#: the fragment's per-device lists: (flag, the entry's value field)
_DEVICE_LISTS = {"weightDevice": ("blkio-weight-device", "weight"),
                 "throttleReadBpsDevice": ("device-read-bps", "rate"),
                 "throttleWriteBpsDevice": ("device-write-bps", "rate"),
                 "throttleReadIOPSDevice": ("device-read-iops", "rate"),
                 "throttleWriteIOPSDevice": ("device-write-iops", "rate")}


def resource_flags(fragment: dict) -> dict[str, Any]:
    """An OCI linux.resources fragment (the libpod API's resource_limits beyond husk's limits) as
    the values of the flags that make one, by their names without dashes, for :func:`from_flags`:
    so the API grants nothing the flags could not (device rules, cgroup files) and refuses with the
    flags' messages.  A device given by its numbers is the host's /dev/block/MAJOR:MINOR, the block
    device the flags' path must be.  A field no flag sets is refused."""
    flags: dict[str, Any] = {}
    try:
        for key, part in fragment.items():
            if key == "devices":
                flags["device_cgroup_rule"] = [_rule_text(rule) for rule in part]
            elif key == "unified":
                flags["cgroup_conf"] = [f"{name}={value}" for name, value in part.items()]
            elif key in _FRAGMENT_FLAGS and isinstance(part, dict):
                for field, value in part.items():
                    if key == "blockIO" and field in _DEVICE_LISTS:
                        flag, setting = _DEVICE_LISTS[field]
                        flags[flag.replace("-", "_")] = [
                            f"/dev/block/{_number(entry['major'])}:{_number(entry['minor'])}:{_number(entry[setting])}"
                            for entry in value]
                    elif field in _FRAGMENT_FLAGS[key]:
                        flag = _FRAGMENT_FLAGS[key][field]
                        flags[flag.replace("-", "_")] = (value is True if flag == "oom-kill-disable"
                                                         else None if value is None else str(value))
                    else:
                        raise InvalidArgument(f"invalid resource_limits: {key}.{field} is not supported")
            else:
                raise InvalidArgument(f"invalid resource_limits: {key} is not supported")
    except (TypeError, KeyError, AttributeError) as exc:
        raise InvalidArgument(f"invalid resource_limits: {type(exc).__name__}: {exc}") from None
    return flags


def _number(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise InvalidArgument(f"invalid resource_limits: {value!r} is not a device number or value")
    return value


def _rule_text(rule: dict) -> str:
    """An OCI device cgroup entry as --device-cgroup-rule's text (the flag only allows: a deny is refused)."""
    if rule.get("allow") is not True:
        raise InvalidArgument("invalid resource_limits: a device rule must allow (as --device-cgroup-rule)")
    numbers = ":".join("*" if rule.get(key) in (None, -1) else str(_number(rule[key])) for key in ("major", "minor"))
    return f"{rule.get('type', 'a')} {numbers} {rule.get('access') or 'rwm'}"
