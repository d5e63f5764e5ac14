"""Defaults from TOML config files, like podman's containers.conf.

Read in order, later files overriding earlier keys: /etc/husk/husk.conf (the
system), $XDG_CONFIG_HOME/husk/husk.conf (the user; ~/.config by default), and
the file named by $HUSK_CONFIG.  Command-line flags override all of them.
Example::

    [engine]
    runtime = "runc"            # default --runtime
    root = "/var/lib/husk"      # --root
    runroot = "/run/husk"       # --runroot
    plugins = ["mysite.husk"]   # extra plugin modules to load
    disabled_plugins = ["crun"] # entry points not to load
    events_logfile_max_size = 1000000

    [containers]
    stop_timeout = 10
    log_size_max = 0            # bytes; 0 = unlimited
    netns = "bridge"            # default --network: bridge, none or host

    [network]
    network_backend = "netavark" # the network backend plugin ("": the one installed)
    default_network = "podman"  # the default network: its name, subnet and bridge
    default_subnet = "10.88.0.0/16"
    default_interface = "podman0"

    [plugins.shimv2.runtimes.myshim]  # a plugin's own table: config.plugin_settings("shimv2")
    shim = "/usr/local/bin/containerd-shim-mine-v2"
"""

from __future__ import annotations

import os
from ..define import DEFAULT_STOP_TIMEOUT, InvalidArgument

#: set (to the user's host uid) in every process of a rootless husk once it is
#: inside the user's namespace, where its euid is 0 (husk.engine.rootless)
ROOTLESS_ENV = "_HUSK_ROOTLESS_UID"


def is_rootless() -> bool:
    """Whether husk runs for an unprivileged user (before or after joining its namespace)."""
    return os.geteuid() != 0 or ROOTLESS_ENV in os.environ


def host_uid() -> int:
    """The rootless user's id on the host (the euid, before husk.engine.rootless.enter)."""
    return int(os.environ.get(ROOTLESS_ENV) or os.geteuid())


def default_root() -> str:
    """podman's rootless storage: $XDG_DATA_HOME/husk, ~/.local/share/husk by default."""
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "husk")


def default_runroot() -> str:
    """A rootless run root: $XDG_RUNTIME_DIR/husk, or a private /tmp/husk-run-UID when that is unset."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    return os.path.join(runtime_dir, "husk") if runtime_dir else f"/tmp/husk-run-{host_uid()}"


def uses_cgroups(cgroup_parent: str = "") -> bool:
    """podman's rule for rootless containers under its cgroupfs manager (husk's only one): no
    cgroup at all on a cgroup v1 or hybrid host (the user cannot write there), and on a v2 host
    only under a `--cgroup-parent` the user names (a subtree delegated to the user, as systemd's
    `Delegate=yes` makes it); otherwise the runtime would make its cgroup where the user may not
    (crun: /sys/fs/cgroup/husk/ID, permission denied).  Without one the limits are ignored, with a
    warning (:func:`no_cgroups_warning`)."""
    if not is_rootless():
        return True
    return bool(cgroup_parent) and cgroup_v2()


def cgroup_v2() -> bool:
    """A pure cgroup v2 host (/sys/fs/cgroup is the unified hierarchy)."""
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def no_cgroups_warning() -> str:
    """The line a rootless create prints when it drops the container's limits: podman's on v1."""
    if not cgroup_v2():
        return "Resource limits are not supported and ignored on cgroups V1 rootless systems"
    return ("Resource limits are ignored for rootless containers without a --cgroup-parent delegated to the user "
            "(husk drives cgroupfs, not systemd)")


class Config:
    """The defaults, overridden key by key by the files (a plain class: the
    dataclasses module costs every command 1.5 ms to import)."""

    def __init__(self, **overrides) -> None:
        self.runtime = "crun"
        self.root = "/var/lib/husk"
        self.runroot = "/run/husk"
        if is_rootless():  # podman's rootless places
            self.root, self.runroot = default_root(), default_runroot()
        self.plugins: list[str] = []
        self.disabled_plugins: list[str] = []
        self.events_logfile_max_size = 1_000_000
        self.stop_timeout = DEFAULT_STOP_TIMEOUT
        self.log_size_max = 0
        # the network mode of a container created without --network (rootless: podman's slirp4netns)
        self.netns = "slirp4netns" if is_rootless() else "bridge"
        self.network_backend = ""  # by name; "" is the only (or first) one installed
        self.default_network = "podman"
        self.default_subnet = "10.88.0.0/16"
        self.default_interface = "podman0"  # the default network's bridge
        #: a program that mounts the containers' overlay instead of the kernel (podman's storage.conf
        #: mount_program, e.g. /usr/bin/fuse-overlayfs); "" for the kernel's overlay
        self.mount_program = ""
        #: plugin name -> its ``[plugins.NAME]`` table (see :meth:`plugin_settings`)
        self.plugin_tables: dict[str, dict] = {}
        for key, value in overrides.items():
            if not hasattr(self, key):
                raise TypeError(f"unknown config key {key!r}")
            setattr(self, key, value)

    def plugin_settings(self, name: str) -> dict:
        """The ``[plugins.NAME]`` table of husk.conf (empty when there is none):
        a plugin's own settings, which the plugin checks itself.  Later files
        override earlier ones key by key, as for husk's own sections."""
        return self.plugin_tables.get(name, {})


_SECTIONS = {
    "engine": ("runtime", "root", "runroot", "plugins", "disabled_plugins", "events_logfile_max_size"),
    "containers": ("stop_timeout", "log_size_max", "netns"),
    "network": ("network_backend", "default_network", "default_subnet", "default_interface"),
    "storage": ("mount_program",),
}


def config_files() -> list[str]:
    user_dir = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    files = ["/etc/husk/husk.conf", os.path.join(user_dir, "husk", "husk.conf")]
    if os.environ.get("HUSK_CONFIG"):
        files.append(os.environ["HUSK_CONFIG"])
    return files


def load(files: list[str] | None = None) -> Config:
    """The merged configuration; a malformed file is one clear error, not a traceback."""
    config = Config()
    for path in config_files() if files is None else files:
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise InvalidArgument(f"reading config file {path}: {exc.strerror}") from None
        _apply(config, path, raw)
    return config


def _apply(config: Config, path: str, raw: bytes) -> None:
    import tomllib  # only paid when a config file exists

    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"config file {path}: {exc}") from None
    for section, keys in _SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise InvalidArgument(f"config file {path}: [{section}] must be a table")
        for key, value in table.items():
            if key not in keys:
                raise InvalidArgument(f"config file {path}: unknown key {section}.{key}")
            expected = type(getattr(config, key))
            if not isinstance(value, expected) or isinstance(value, bool) and expected is not bool:
                raise InvalidArgument(f"config file {path}: {section}.{key} must be a {expected.__name__}")
            setattr(config, key, value)
    tables = data.get("plugins", {})
    if not isinstance(tables, dict) or not all(isinstance(table, dict) for table in tables.values()):
        raise InvalidArgument(f"config file {path}: [plugins] must hold one table per plugin ([plugins.NAME])")
    for name, table in tables.items():
        config.plugin_tables[name] = {**config.plugin_tables.get(name, {}), **table}
