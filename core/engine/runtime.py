"""`husk.Runtime`: the entry point for programs (and the CLI) to husk's engine.

A Runtime holds the paths, the configuration, and -- opened lazily, so that a
command only pays for what it uses -- the state store, the plugins (pluggy and
the backends), the OCI runtime backends and the event log.  The first touch of
the store checks the run root's `alive` marker: when it is missing the host
has rebooted (or the run root was wiped), and every container is refreshed
before anything else happens.
"""

from __future__ import annotations

import functools
import os
import time
from typing import TYPE_CHECKING, Any, Iterable

from . import config as config_module
from ..define import IN_RUNTIME, InvalidArgument, NoSuchContainer, State
from ..state.lock import FileLock
from ..state.paths import Paths
from ..state.records import (ContainerConfig, ContainerState, HostFiles, ImageConfig, ImageRecord, Mount, PortMapping,
                             Resources)
from ..state.run_options import RunOptions
from ..formats.environment import check_env
from .names import check_name, random_name as _random_name
from .restart import parse_restart_policy

if TYPE_CHECKING:
    from .container import Container
    from ..define import CorruptRecord
    from ..state.events import EventLog
    from .oci_runtime import OCIRuntime
    from .plugins import Plugins
    from ..state.store import Store
    from ..volumes.manager import Volumes



class Runtime:
    def __init__(self, root: str | None = None, runroot: str | None = None, runtime: str | None = None,
                 config: config_module.Config | None = None, *, runtime_flags: Iterable[str] = (),
                 events_backend: str = "file", hooks_dirs: Iterable[str] = ()) -> None:
        """`runtime_flags` (podman's --runtime-flag): `--FLAG`s for every OCI runtime call this
        Runtime makes; `events_backend` "none" records no events, "journald" sends them to the
        systemd journal too (husk.state.journal); `hooks_dirs`: OCI hook
        definitions for the containers this Runtime creates and initialises."""
        self.config = config or config_module.load()
        self.runtime_flags = [f"--{flag.lstrip('-')}" for flag in runtime_flags]
        self.events_backend = events_backend
        self.hooks_dirs = list(hooks_dirs)
        self.paths = Paths(root or self.config.root, runroot or self.config.runroot)
        if config_module.is_rootless():  # an unprivileged user: into its own namespaces first
            from .rootless import enter

            enter(self.paths.runroot)
        self.default_runtime = runtime or self.config.runtime
        self._store: Store | None = None
        self._backends: dict[str, OCIRuntime] = {}
        #: feature_plugins' partial loads, by the plugins they load
        self._partial_plugins: dict[tuple[str, ...], Plugins] = {}

    # -- lazily opened parts -------------------------------------------------------------
    @property
    def store(self) -> "Store":
        if self._store is None:
            from ..state.store import open_store

            self.paths.make_private()
            self._store = open_store(self.paths.state_dir)
            if not os.path.exists(self.paths.alive_marker):
                self._refresh_after_reboot()
        return self._store

    @functools.cached_property
    def plugins(self) -> "Plugins":
        from .plugins import Plugins

        return Plugins(self.config.plugins, self.config.disabled_plugins, self.config)

    def call_plugins(self, hook: str, *args: Any) -> None:
        """Call the Plugins facade's lifecycle hook `hook` (``pre_init``, ``start``, ``stop``,
        ``exec_session``, ``attach``, ``cleanup``: the pluggy hook ``husk_<hook>``), the one way
        the engine calls them.  Skipped when no plugin is loaded yet and the last full load
        noted that none implements it (husk.engine.plugins.unimplemented), so that exec, stop
        and rm load no plugin for a hook nobody answers."""
        if "plugins" not in self.__dict__:
            from .plugins import unimplemented

            if unimplemented(f"husk_{hook}", self.config.plugins, self.config.disabled_plugins):
                return
        getattr(self.plugins, hook)(*args)

    def feature_plugins(self, hook: str) -> "Plugins":
        """The plugins to call the feature hook `hook` on (``checkpoint``, ``restore``:
        the pluggy hook ``husk_<hook>``): until some command needs every plugin, only
        those the last full load noted implement it (husk.engine.plugins.implementers),
        so a checkpoint imports the criu plugin, not all six.  One partial load per
        set of plugins and Runtime (a restore after a checkpoint, an API service
        restoring many, reuse it)."""
        if "plugins" not in self.__dict__:
            from .plugins import Plugins, implementers

            names = implementers(f"husk_{hook}", self.config.plugins, self.config.disabled_plugins)
            if names:
                key = tuple(names)
                if key not in self._partial_plugins:
                    self._partial_plugins[key] = Plugins(self.config.plugins, self.config.disabled_plugins,
                                                         self.config, only=names)
                return self._partial_plugins[key]
        return self.plugins

    @functools.cached_property
    def volumes(self) -> "Volumes":
        """Volumes: records, drivers, use counts (see husk.volumes.manager)."""
        from ..volumes.manager import Volumes

        return Volumes(self.store, self.paths, self.plugins.volume_drivers,
                       emit=lambda status, name: self.emit(status, type="volume", name=name))

    @functools.cached_property
    def events(self) -> "EventLog":
        """The events log to read (InvalidArgument with the "none" backend, which records nothing)."""
        from ..state.events import EventLog

        if self.events_backend == "none":
            raise InvalidArgument('cannot read events with the "none" backend')

        return EventLog(self.paths.events_log, self.config.events_logfile_max_size)

    def oci_runtime(self, name: str | None = None) -> "OCIRuntime":
        """The backend called `name` (default: the configured one).  Until some
        command needs every plugin, only the plugin that provides it is loaded
        (husk.engine.plugins.hinted_runtime)."""
        name = name or self.default_runtime
        backend = self._backends.get(name)
        if backend is None:
            backend_class = None
            if "plugins" not in self.__dict__:
                from .plugins import hinted_runtime

                backend_class = hinted_runtime(name, self.config.plugins, self.config.disabled_plugins, self.config)
            backend_class = backend_class or self.plugins.runtimes.get(name)
            if backend_class is None:
                known = ", ".join(sorted(self.plugins.runtimes)) or "none (install husk-runc or husk-crun)"
                raise InvalidArgument(f"unknown OCI runtime {name!r}; available: {known}")
            backend = self._backends[name] = backend_class(self.paths.runtime_root(name))
            backend.extra_flags = self.runtime_flags
        return backend

    def emit(self, status: str, container: "Container | None" = None, **attributes: Any) -> None:
        """Record an event: the one path every transition takes to report itself."""
        from ..state.events import Event

        attrs = {k: str(v) for k, v in attributes.items()}
        if container is not None:
            image = container.config.image_ref or container.config.image_name
            attrs = {"image": image, "name": container.name,
                     **container.config.labels, **attrs}
            event = Event(status, type="container", id=container.id, name=container.name,
                          image=image, attributes=attrs)
        else:
            event = Event(status, type=attrs.pop("type", "image"), id=attrs.pop("id", ""),
                          name=attrs.pop("name", ""), image=attrs.pop("image", ""), attributes=attrs)
        if self.events_backend != "none":
            self.events.emit(event)
        if self.events_backend == "journald":
            from ..state.journal import send

            send(event)

    # -- containers ----------------------------------------------------------------------
    def create_container(self, image: str, command: list[str] | None = None, *, name: str = "",
                         entrypoint: list[str] | None = None, env: Iterable[str] = (),
                         workdir: str = "", user: str = "", hostname: str = "",
                         labels: dict[str, str] | None = None, stop_signal: str = "",
                         stop_timeout: int | None = None, network: "str | list[str] | None" = None,
                         ports: "Iterable[PortMapping]" = (), static_ips: Iterable[str] = (),
                         static_mac: str = "", aliases: Iterable[str] = (),
                         expose: Iterable[str] = (), publish_all: bool = False, image_volume: str = "bind",
                         rootfs: bool = False,
                         host_files: "HostFiles | None" = None,
                         read_only: bool = False, mounts: Iterable[Mount] = (),
                         stdin_open: bool = False, tty: bool = False, auto_remove: bool = False,
                         restart_policy: str = "no", runtime: str = "",
                         annotations: dict[str, str] | None = None, privileged: bool = False,
                         cap_add: Iterable[str] = (), cap_drop: Iterable[str] = (),
                         dependencies: Iterable[str] = (),
                         console_size: tuple[int, int] | None = None,
                         resources: "Resources | None" = None, run_options: "RunOptions | None" = None,
                         security_opt: Iterable[str] = (), seccomp_policy: str = "default",
                         volumes_from: Iterable[str] = (), secrets: Iterable[str] = (),
                         healthcheck: "dict | None" = None,
                         pod: str = "") -> "Container":
        """Create a container (state `configured`) from an image; nothing runs yet.
        `dependencies` (names or ids, `--requires`) must exist; starting it
        recursively starts them first.  `console_size` (rows, columns) is the
        size of a TTY container's terminal when its process starts.
        `security_opt` and `seccomp_policy`: podman's `--security-opt` values and
        `--seccomp-policy` (see :func:`husk.engine.security.parse`).
        `resources`: cgroup limits (see :func:`husk.engine.resources.limits`; the
        default: podman's pids limit, nothing else).  `run_options`: podman's further
        run/create flags (see :mod:`husk.engine.run_options`).
        `network`: `bridge` (the default network), `none`, `host`,
        `container:NAME` (its network namespace, /etc/hosts and resolv.conf; it
        becomes a dependency), `ns:PATH`, or network names (None: the config's `netns`); `ports` (see
        :func:`husk.network.ports.parse_publish`), `static_ips`, `static_mac`
        and `aliases` apply to the (first) network; `expose`: more ports to
        expose (`--expose` values), and `publish_all` publishes every exposed
        port (the image's too) that `ports` does not on a free host port (`-P`); `host_files`: --dns,
        --add-host and their kind (bridge networking only).  `mounts` of type `volume`
        name a volume (made when missing) or none (an anonymous one);
        `volumes_from` (`CTR[:ro|rw]`) copies other containers' volumes and binds.
        `secrets`: `--secret` values (see husk.engine.secrets.parse_secret).
        `image_volume`: what the image's VOLUMEs become: `bind` (anonymous
        volumes), `tmpfs` or `ignore` (nothing).
        `rootfs`: `image` is a host directory, `DIR` or `DIR:O`, run as the root
        filesystem (podman's `--rootfs`): bound as it is (the container writes
        into it), or with `:O` under an overlay of the container's own.
        `healthcheck`: the health check's settings over the image's HEALTHCHECK
        (see :func:`husk.engine.health.from_flags`).
        `pod`: the pod (name or id) it joins (see husk.engine.pods.join)."""
        from .container import Container
        from ..storage.images import resolve_image
        from ..formats.signals import parse_signal

        image_record, rootfs_dir, overlay = _rootfs(image) if rootfs else (resolve_image(self, image), "", False)
        if image_record.manifest_list:  # a list runs its instance for this host, as podman's
            from ..storage.manifest_list import instance_image

            image_record = instance_image(self, image_record)
        if name:
            check_name(name)
        check_env(env)
        if stop_timeout is not None and stop_timeout < 0:
            raise InvalidArgument(f"invalid stop timeout {stop_timeout}: must be 0 or more seconds")
        if auto_remove and restart_policy not in ("", "no"):
            raise InvalidArgument('the --rm option conflicts with --restart, when the restartPolicy is not "" and "no"')
        from ..formats.exposed import parse_expose

        exposed = parse_expose([*image_record.config.exposed_ports, *expose])
        if publish_all:
            from ..network.ports import publish_all as publish

            ports = [*ports, *publish(exposed, list(ports))]
        network, networks = self._networks(network, ports, static_ips, static_mac, aliases)
        host_files = host_files or HostFiles()
        if host_files != HostFiles():
            from ..network.networks import check_host_files

            if network != "bridge":
                raise InvalidArgument(f"--dns, --dns-search, --dns-option, --add-host and --no-hosts need bridge "
                                      f"networking, not network mode {network}: invalid argument")
            check_host_files(host_files)
        if console_size is not None and not (len(console_size) == 2 and all(0 <= n <= 0xFFFF for n in console_size)):
            raise InvalidArgument(f"invalid console size {list(console_size)}: [rows, columns], each 0 to 65535")
        from . import security
        from .capabilities import capability_set

        capability_set(list(cap_add), list(cap_drop), privileged=privileged)  # unknown names fail now
        security_record = security.parse(security_opt, seccomp_policy)
        stop_signal_given = stop_signal
        stop_signal = stop_signal or image_record.config.stop_signal or "SIGTERM"
        parse_signal(stop_signal)  # refuse a bad value now, not at stop time
        backend = self.oci_runtime(runtime or None)
        if network.startswith("container:"):  # started first, as podman does with its namespace's owner
            dependencies = [*dependencies, network.partition(":")[2]]
        if dependencies:
            from .dependencies import resolve

            dependencies = resolve(self, list(dependencies))
        from .health import resolve as resolve_healthcheck
        from .volume_mounts import remove_volumes, resolve_for_create

        secret_uses = []
        if secrets:  # the secrets' module only when given: most creates have none
            from .secrets import parse_secret

            secret_uses = [parse_secret(self, value) for value in secrets]

        mounts, anonymous = resolve_for_create(self, mounts, image_record.config, volumes_from, image_volume)
        container_id = os.urandom(32).hex()
        config = ContainerConfig(
            id=container_id, name=name or _random_name(), created=time.time(),
            image_id=image_record.id, image_name=image, image_ref=_resolved_name(image, image_record.names),
            rootfs=rootfs_dir, rootfs_overlay=overlay,
            runtime=backend.name,
            command=list(command or []), entrypoint=list(entrypoint) if entrypoint is not None else [],
            env=list(env), workdir=workdir, user=user, hostname=hostname, labels=dict(labels or {}),
            annotations=dict(annotations or {}), stop_signal=stop_signal,
            stop_timeout=self.config.stop_timeout if stop_timeout is None else stop_timeout,
            network=network, networks=networks, ports=list(ports), exposed_ports=exposed, host_files=host_files,
            read_only=read_only, mounts=list(mounts), stdin_open=stdin_open, tty=tty,
            auto_remove=auto_remove, restart_policy=parse_restart_policy(restart_policy),
            privileged=privileged, cap_add=list(cap_add), cap_drop=list(cap_drop),
            dependencies=list(dependencies),
            console_size=list(console_size) if console_size and all(console_size) else [],
            resources=resources or Resources(), security=security_record,
            run_options=run_options or RunOptions(), secrets=secret_uses,
            healthcheck=resolve_healthcheck(healthcheck or {}, image_record))
        if config.resources != Resources() and not config_module.uses_cgroups(config.run_options.cgroup_parent):
            import sys  # podman's words (v1), and it goes on without them

            print(config_module.no_cgroups_warning(), file=sys.stderr)
        if self.hooks_dirs:
            config.run_options.hooks_dirs = [*config.run_options.hooks_dirs, *self.hooks_dirs]
        if config.run_options.log_driver:
            config.log_driver = config.run_options.log_driver
        if entrypoint is not None:
            config.annotations.setdefault("husk.entrypoint-set", "true")
        self._systemd_settings(config, image_record.config, explicit_signal=bool(stop_signal_given))
        if pod:
            from .pods import join

            join(self, config, pod)
        try:
            if config.run_options.userns.startswith("auto") and not config.run_options.uid_mappings:
                from .userns import adopt_auto

                return adopt_auto(self, config)
            return self.adopt_container(config, ContainerState())
        except BaseException:
            remove_volumes(self, anonymous)
            raise

    @staticmethod
    def _systemd_settings(config: ContainerConfig, image: ImageConfig, explicit_signal: bool) -> None:
        """--cgroups checked against the runtime; a systemd container (--systemd)
        stops with SIGRTMIN+3 unless told otherwise, as podman's does."""
        from .process_args import resolve_args
        from .run_options import check_cgroups, is_systemd

        check_cgroups(config.run_options.cgroups, config.runtime)
        try:
            args = resolve_args(config, image)
        except InvalidArgument:
            args = []
        if not explicit_signal and is_systemd(config.run_options.systemd, args):
            config.stop_signal = "SIGRTMIN+3"

    def _networks(self, network, ports, static_ips, static_mac, aliases) -> "tuple[str, dict]":
        """The network mode and the networks joined, checked as podman checks them."""
        from ..network.networks import parse_mode
        from ..state.records import NetworkAttachment

        mode, names = parse_mode(self.config.netns if network is None else network)
        attachment = NetworkAttachment(static_ips=list(static_ips), static_mac=static_mac, aliases=list(aliases))
        if mode != "bridge":
            if (ports and mode != "slirp4netns") or static_ips or static_mac or aliases:
                raise InvalidArgument(f"published ports, static addresses and aliases need bridge networking, "
                                      f"not network mode {mode}: invalid argument")  # slirp4netns forwards ports
            if mode.partition(":")[0] == "pasta" and not config_module.is_rootless():
                raise InvalidArgument("pasta networking is only supported for rootless mode")  # podman 4.4's
            if mode.partition(":")[0] in ("container", "ns"):
                from .run_options import parse_namespace

                mode = parse_namespace("network", mode, self.store.lookup_container)
            return mode, {}
        if config_module.is_rootless():
            raise InvalidArgument("rootless containers cannot join bridge networks (husk has no rootless network "
                                  "namespace yet): use --network slirp4netns, pasta, none or host")
        from .networking import lookup

        for name in names:
            lookup(self, name)  # an unknown network is refused now, not at start
        if not names and attachment == NetworkAttachment():
            return mode, {}
        names = names or [self.config.default_network]
        return mode, {name: attachment if i == 0 else NetworkAttachment() for i, name in enumerate(names)}

    def adopt_container(self, config: ContainerConfig, state: ContainerState) -> "Container":
        """Record a container made elsewhere (create above; a checkpoint archive's
        import, whose files the caller has put in place) and emit its `create`.

        :raises NameInUse: the id or the name is taken (nothing is recorded)"""
        from .container import Container

        self.store.add_container(config, state)
        container = Container(self, config, state)
        self.emit("create", container)
        return container

    def container(self, name_or_id: str) -> "Container":
        from .container import Container

        container_id = self.store.lookup_container(name_or_id)
        return Container(self, self.store.container_config(container_id), self.store.container_state(container_id))

    def containers(self, errors: "list[CorruptRecord] | None" = None) -> list["Container"]:
        """Every container, without taking locks (ps, inspect).  Corrupt records
        raise, or go to `errors` when given (see Store.containers)."""
        from .container import Container

        return [Container(self, config, state) for config, state in self.store.containers(errors)]

    def purge_container(self, name_or_id: str) -> str:
        """Remove a container whose records are corrupt: whatever of it exists in
        the runtimes, its mounts and directories, and its records.  Returns its id."""
        import shutil

        from ..storage.rootfs import unmount

        container_id = self.store.lookup_container(name_or_id)
        for name in self.plugins.runtimes:
            self.oci_runtime(name).delete(container_id, force=True)
        unmount(os.path.join(self.paths.container_dir(container_id), "merged"))
        for directory in (self.paths.container_dir(container_id), self.paths.container_run_dir(container_id)):
            shutil.rmtree(directory, ignore_errors=True)
        self.store.purge_container(container_id)
        return container_id

    def container_exists(self, name_or_id: str) -> bool:
        try:
            self.store.lookup_container(name_or_id)
        except NoSuchContainer:
            return False
        return True

    # -- reboot --------------------------------------------------------------------------
    def _refresh_after_reboot(self) -> None:
        """The run root lost its marker: nothing husk started is running any more.

        Reset every container (state to configured unless exited, no pid, no
        mount, no exec sessions), drop the mount counts, then write the marker.
        Done under a lock so concurrent first commands refresh once."""
        from ..storage.rootfs import is_mounted, unmount

        os.makedirs(self.paths.runroot, mode=0o700, exist_ok=True)
        with FileLock(self.paths.refresh_lock):
            if os.path.exists(self.paths.alive_marker):
                return
            store = self._store
            for config, state in list(store.containers()):
                if state.mountpoint and is_mounted(state.mountpoint):
                    unmount(state.mountpoint)
                if state.state in IN_RUNTIME or state.state is State.CONFIGURED:
                    state.state = State.CONFIGURED if state.state is not State.STOPPED else State.EXITED
                state.pid = state.monitor_pid = 0
                state.mountpoint = ""
                state.exec_sessions = {}
                store.save_state(config.id, state)
                if state.netns:  # firewall rules outlive a namespace; a real reboot flushed them anyway
                    self._tear_down_network(config, state)
            store.reset_mount_counts()
            store.reset_volume_users()
            with open(self.paths.alive_marker, "w") as marker:
                marker.write(f"{time.time()}\n")


    def _tear_down_network(self, config: ContainerConfig, state: ContainerState) -> None:
        from .container import Container
        from .networking import teardown

        teardown(Container(self, config, state))


def _rootfs(value: str) -> tuple[ImageRecord, str, bool]:
    """`--rootfs DIR[:O]`: an empty stand-in image record, the directory, and the overlay flag."""
    directory, overlay = (value[:-2], True) if value.endswith(":O") else (value, False)
    directory = os.path.abspath(directory)
    if not os.path.isdir(directory):
        raise InvalidArgument(f"invalid --rootfs {value!r}: {directory} is not a directory")
    if directory == "/":
        raise InvalidArgument("invalid --rootfs '/': the host's root filesystem cannot be a container's")
    return ImageRecord(id="", names=[], layers=[], created=0.0), directory, overlay


def _resolved_name(typed: str, names: list[str]) -> str:
    """The image's stored name the user meant (`busybox` -> `localhost/busybox:latest`)."""
    wanted = typed if ":" in typed.rsplit("/", 1)[-1] else typed + ":latest"
    for name in names:
        if name == wanted or name.endswith("/" + wanted):
            return name
    return names[0] if names else typed
