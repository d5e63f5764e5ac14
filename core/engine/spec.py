"""The OCI runtime spec (config.json) of a container, generated from its config.

Podman's defaults are the reference, so a container behaves the same under husk
as under `podman run` (rootful): the same capabilities, mounts, masked paths,
namespaces, environment and rlimits.  Where podman's default would make the
runtime fail on the host, husk adapts instead: rlimits are clamped to the host's
hard limits, and a privileged container gets the capabilities husk itself holds.

:func:`generate` also writes the files a container sees at /etc/hosts,
/etc/hostname, /etc/resolv.conf and /run/.containerenv into its userdata dir and
bind-mounts them.  It is called at every init, so they are regenerated each time.

The confinement (seccomp filter, masked and read-only paths, no_new_privs)
comes from :mod:`husk.engine.security`, as podman sets it.
"""

from __future__ import annotations

import functools
import os
import resource
import stat
from collections.abc import Mapping
from typing import Any

from .. import __version__
from . import resources, security, users
from .capabilities import CAPABILITY_NAMES, DEFAULT_CAPABILITIES, all_capabilities, capability_set
from .config import uses_cgroups
from .process_args import DEFAULT_PATH, ENTRYPOINT_SET_ANNOTATION, merge_env, resolve_args
from ..storage import rootpath
from ..define import InvalidArgument
from ..formats.environment import utf8_json
from ..state.records import ContainerConfig, ImageConfig, Mount

OCI_VERSION = "1.0.2"


#: podman's rootful defaults; each is clamped to the host's hard limit
DEFAULT_RLIMITS = {"RLIMIT_NOFILE": 1048576, "RLIMIT_NPROC": 4194304}
DEFAULT_UMASK = 0o022
SHM_SIZE = "65536k"

#: where a container's cgroup goes (cgroupfs manager).  Relative, so runc and
#: crun both nest it under the cgroup of the process that runs them, in every
#: v1 hierarchy: a caller confined to a cgroup keeps its containers inside.
CGROUP_PARENT = "husk"

#: files husk writes in userdata and binds into the container: destination -> file name
CONTAINER_FILES = {
    "/etc/hosts": "hosts",
    "/etc/hostname": "hostname",
    "/etc/resolv.conf": "resolv.conf",
    "/run/.containerenv": ".containerenv",
}

_PROPAGATIONS = frozenset({"private", "rprivate", "shared", "rshared", "slave", "rslave",
                           "unbindable", "runbindable"})
#: a tmpfs option and the user's option that cancels it
_TMPFS_DEFAULTS = (("rw", "ro"), ("noexec", "exec"), ("nosuid", "suid"), ("nodev", "dev"),
                   ("tmpcopyup", "notmpcopyup"))
_IGNORED_BIND_OPTIONS = frozenset({"z", "Z"})  # SELinux relabelling: no SELinux here


def generate(config: ContainerConfig, image: ImageConfig, rootfs: str, userdata: str, *,
             host_limits: Mapping[str, int] | None = None,
             cgroup_parent: str = CGROUP_PARENT) -> dict[str, Any]:
    """The OCI runtime spec for `config`, as a dict ready for :func:`write_bundle`.

    :param rootfs: the container's mounted root filesystem (overlay merged dir);
        --user is resolved against its /etc/passwd and /etc/group, and a missing
        working directory is created in it.
    :param userdata: the container's bundle dir; hosts, hostname, resolv.conf
        and .containerenv are (re)written there.
    :param host_limits: hard limits by rlimit name (``"RLIMIT_NOFILE"``), to
        clamp the defaults to; None reads this process's own.
    :raises InvalidArgument: no command, unknown user, group or capability,
        a missing bind source, a working directory that is not a directory, a
        seccomp profile that no longer loads.
    """
    host_network = config.network == "host"
    hostname = config.hostname or (os.uname().nodename if host_network else config.id[:12])
    user = users.resolve_user(rootfs, config.user or image.user)
    args = resolve_args(config, image)
    cwd = config.workdir or image.workdir or "/"
    _ensure_workdir(rootfs, cwd, config.id)
    caps = capability_set(config.cap_add, config.cap_drop, privileged=config.privileged)
    if user.uid == 0:
        effective = list(caps)
    else:  # as podman: a non-root process holds only what was explicitly added
        explicit = capability_set(config.cap_add, [], privileged=False, base=())
        effective = [cap for cap in explicit if cap in caps]
    _write_container_files(config, userdata, hostname, host_network)

    process: dict[str, Any] = {
        "terminal": config.tty,
        "user": {"uid": user.uid, "gid": user.gid, "umask": DEFAULT_UMASK},
        "args": args,
        "env": merge_env(image.env, config.env, hostname=hostname, home=user.home),
        "cwd": cwd,
        "capabilities": {
            "bounding": caps,
            "effective": effective,
            "permitted": list(effective),
            "inheritable": [] if user.uid == 0 else list(effective),
            "ambient": [] if user.uid == 0 else list(effective),
        },
        "rlimits": rlimits(host_limits),
    }
    if user.additional_gids:
        process["user"]["additionalGids"] = user.additional_gids
    if config.tty and config.console_size:  # the runtime sizes the terminal before the process runs
        process["consoleSize"] = {"height": config.console_size[0], "width": config.console_size[1]}

    namespaces = [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
    if not host_network:
        namespaces.append({"type": "network"})
    if _cgroup_v2():
        namespaces.append({"type": "cgroup"})

    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "cgroupsPath": f"{cgroup_parent}/{config.id}",
        "resources": {
            # copies: a pre_init plugin may edit the spec in place
            "devices": [dict(rule) for rule in (_ALL_DEVICES if config.privileged else _DEFAULT_DEVICE_RULES)],
            **resources.oci_resources(config.resources),
        },
    }
    if config.privileged:
        linux["devices"] = _host_devices()
    if not uses_cgroups(config.run_options.cgroup_parent):
        del linux["cgroupsPath"]
        linux["resources"] = {}

    spec = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": rootfs, "readonly": config.read_only},
        "hostname": hostname,
        "mounts": build_mounts(config, userdata),
        "annotations": dict(config.annotations),
        "linux": linux,
    }
    security.apply(spec, config.security, privileged=config.privileged, image_labels=image.labels)
    return spec


def write_bundle(spec: dict[str, Any], userdata: str) -> str:
    """Write `spec` as userdata/config.json and return its path.

    Written in place, not through a renamed temporary: creating an inode costs
    close to a millisecond on the ext4 of our hosts, and nothing reads the file
    before this returns (a crash leaves a file the next init rewrites).
    """
    path = os.path.join(userdata, "config.json")
    _write(userdata, "config.json", utf8_json(spec), mode=0o600)
    return path


# -- process ---------------------------------------------------------------------------


def rlimits(host_limits: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    """Podman's rlimits, each lowered to the host's hard limit (a runtime cannot
    raise a hard limit, and podman fails there)."""
    result = []
    for name, value in DEFAULT_RLIMITS.items():
        if host_limits is None:
            hard = resource.getrlimit(getattr(resource, name))[1]
        else:
            hard = host_limits.get(name, resource.RLIM_INFINITY)
        if hard != resource.RLIM_INFINITY and hard >= 0:
            value = min(value, hard)
        result.append({"type": name, "hard": value, "soft": value})
    return result


def _ensure_workdir(rootfs: str, cwd: str, container_id: str) -> None:
    """Create the working directory when the image lacks it, as podman does."""
    if cwd == "/":
        return
    if not cwd.startswith("/"):
        raise InvalidArgument(f"workdir {cwd!r} is not an absolute path")
    try:
        rootpath.make_dirs(rootfs, cwd)
    except NotADirectoryError:
        raise InvalidArgument(f'workdir "{cwd}" exists on container {container_id}, but is not a directory',
                              exit_code=126) from None  # podman: the command cannot be invoked there


# -- mounts ----------------------------------------------------------------------------

def build_mounts(config: ContainerConfig, userdata: str) -> list[dict[str, Any]]:
    """The container's mounts: podman's defaults, the files from userdata, the
    read-only tmpfs set, then the user's `-v`/`--tmpfs` mounts, which replace
    any of those at the same destination.  Parents come before children."""
    by_destination: dict[str, dict[str, Any]] = {}
    for mount in _default_mounts(config.privileged):
        by_destination[mount["destination"]] = mount
    file_options = ["bind", "rprivate"]
    if config.read_only:
        file_options += ["ro", "nosuid", "noexec", "nodev"]
    for destination, name in CONTAINER_FILES.items():
        by_destination[destination] = {"destination": destination, "type": "bind",
                                       "source": os.path.join(userdata, name), "options": list(file_options)}
    if config.read_only:
        for destination in ("/tmp", "/var/tmp", "/run"):
            by_destination[destination] = {"destination": destination, "type": "tmpfs", "source": "tmpfs",
                                           "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]}
    for mount in config.mounts:
        user_mount = user_mount_spec(mount)
        by_destination[user_mount["destination"]] = user_mount
    return sorted(by_destination.values(), key=lambda m: m["destination"].rstrip("/").count("/"))


def user_mount_spec(mount: Mount) -> dict[str, Any]:
    """One `-v` or `--tmpfs` mount as the runtime wants it.

    Binds become recursive and private unless the user chose otherwise; a tmpfs
    gets podman's rw,noexec,nosuid,nodev,tmpcopyup except where the user's
    options say the opposite.
    :raises InvalidArgument: a relative destination, a missing bind source.
    """
    destination = os.path.normpath(mount.destination) if mount.destination else ""
    if not destination.startswith("/"):
        raise InvalidArgument(f"invalid container path {mount.destination!r}, must be an absolute path")
    options = list(mount.options)
    source = mount.source
    if mount.type == "bind":
        if not os.path.exists(source):
            raise InvalidArgument(f"statfs {source}: no such file or directory")
        options = [option for option in options if option not in _IGNORED_BIND_OPTIONS]
        if "bind" not in options and "rbind" not in options:
            options.insert(0, "rbind")
        if not _PROPAGATIONS.intersection(options):
            options.append("rprivate")
    elif mount.type == "tmpfs":
        source = source or "tmpfs"
        for default, opposite in _TMPFS_DEFAULTS:
            if default not in options and opposite not in options:
                options.append(default)
    return {"destination": destination, "type": mount.type, "source": source, "options": options}


def _default_mounts(privileged: bool) -> list[dict[str, Any]]:
    """podman 4.3's default mounts, options as it writes them (its runtime-tools
    defaults plus its own: /dev noexec, /sys/fs/cgroup and a privileged /sys rprivate)."""
    sys_mode = "rw" if privileged else "ro"
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={SHM_SIZE}"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": (["rprivate"] if privileged else []) + ["nosuid", "noexec", "nodev", sys_mode]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["rprivate", "nosuid", "noexec", "nodev", "relatime", sys_mode]},
    ]


# -- the files in userdata -------------------------------------------------------------

def _write_container_files(config: ContainerConfig, userdata: str, hostname: str, host_network: bool) -> None:
    _write(userdata, "hostname", hostname + "\n")
    _write(userdata, "hosts", hosts_content(hostname, config.name, host_network))
    _write(userdata, "resolv.conf", resolv_conf_content(_read_host_file("/etc/resolv.conf"), host_network))
    _write(userdata, ".containerenv", containerenv_content(config))


def hosts_content(hostname: str, name: str, host_network: bool) -> str:
    """/etc/hosts: the host's own with the host's network, else podman's
    localhost lines; then a line naming the container."""
    if host_network:
        base = _read_host_file("/etc/hosts")
        if base and not base.endswith("\n"):
            base += "\n"
    else:
        base = ("127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n"
                "::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n")
    names = hostname if hostname == name else f"{hostname} {name}"
    return f"{base}127.0.1.1\t{names}\n"


def resolv_conf_content(host_resolv_conf: str, host_network: bool) -> str:
    """/etc/resolv.conf: the host's, minus loopback nameservers (unreachable from
    the container's own network namespace); podman's public fallback when none is left."""
    if host_network:
        return host_resolv_conf
    lines = []
    nameservers = 0
    for line in host_resolv_conf.splitlines():
        fields = line.split()
        if fields[:1] == ["nameserver"] and len(fields) > 1:
            address = fields[1]
            if address.startswith("127.") or address == "::1":
                continue
            nameservers += 1
        lines.append(line)
    if not nameservers:
        lines += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(lines) + "\n"


def containerenv_content(config: ContainerConfig) -> str:
    """/run/.containerenv: its presence says "in a container"; as podman, only a
    privileged container is told who runs it and from which image."""
    if not config.privileged:
        return ""
    return (f'engine="husk-{__version__}"\n'
            f'name="{config.name}"\n'
            f'id="{config.id}"\n'
            f'image="{config.image_name}"\n'
            f'imageid="{config.image_id}"\n'
            "rootless=0\n")


def _read_host_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read()
    except FileNotFoundError:
        return ""


def _write(directory: str, name: str, content: str, mode: int = 0o644) -> None:
    """Write a bundle file, unless it holds `content` already: a start or a
    restore writes the same files again, and truncating one takes ext4 a
    journal handle (5 files, 7 ms median under load; reading them 0.1 ms)."""
    path = os.path.join(directory, name)
    data = content.encode()
    try:
        with open(path, "rb") as handle:
            if handle.read(len(data) + 1) == data:
                return
    except OSError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


# -- devices and cgroups ---------------------------------------------------------------

def _char(major: int, minor: int | None = None, access: str = "rwm") -> dict[str, Any]:
    rule: dict[str, Any] = {"allow": True, "type": "c", "major": major, "access": access}
    if minor is not None:
        rule["minor"] = minor
    return rule


#: deny everything, then allow mknod and the devices every container has
_DEFAULT_DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    _char(1, 3), _char(1, 5), _char(1, 7), _char(1, 8), _char(1, 9),  # null zero full random urandom
    _char(5, 0), _char(5, 1), _char(5, 2), _char(136),  # tty console ptmx pts/*
    _char(10, 200),  # net/tun
]
_ALL_DEVICES = [{"allow": True, "access": "rwm"}]

#: under /dev but not devices to copy: the runtime makes these itself
_SKIPPED_DEV_ENTRIES = frozenset({"pts", "shm", "mqueue", "ptmx", "console", "fd"})


def _host_devices() -> list[dict[str, Any]]:
    """The host's device nodes, for a privileged container (as podman gives it)."""
    devices = []
    pending = ["/dev"]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if directory == "/dev" and entry.name in _SKIPPED_DEV_ENTRIES:
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                pending.append(entry.path)
            elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
                devices.append({"path": entry.path, "type": "c" if stat.S_ISCHR(info.st_mode) else "b",
                                "major": os.major(info.st_rdev), "minor": os.minor(info.st_rdev),
                                "fileMode": stat.S_IMODE(info.st_mode), "uid": info.st_uid, "gid": info.st_gid})
    return sorted(devices, key=lambda device: device["path"])


@functools.cache
def _cgroup_v2() -> bool:
    """Whether the host runs cgroup v2 only (a hybrid v1 host gets no cgroup namespace)."""
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")
