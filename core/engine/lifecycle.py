"""The internal lifecycle steps.  Call every function here with the container lock held,
after the public API's state checks (:mod:`husk.engine.container`), which the steps assume.

The public API (:mod:`husk.engine.container`) checks states; these functions do the
work: mount the rootfs, generate the spec, start the monitor (which runs the
runtime's `create`), start, stop, clean up, remove -- each saving the state
and emitting its event.  Saves happen as soon as a step has changed something
outside husk (a mount, a runtime container), so a CLI killed at any point leaves
state that :func:`sync` can repair.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING

from ..define import IN_RUNTIME, HuskError, PluginFailure, State
from ..faults import fault
from . import networking
from .processes import pid_alive

if TYPE_CHECKING:
    from ..state.records import ContainerConfig, ImageConfig
    from .container import Container
    from .oci_runtime import OCIRuntime

UNKNOWN_EXIT_CODE = -1
#: how long an explicit sync waits for a live monitor to write the exit file
#: of a process that has gone (it drains output for up to 2 s of quiet first)
MONITOR_FINISH_SECONDS = 5.0
#: how long a released container's monitor has to write its exit file before it is killed
MONITOR_RELEASE_SECONDS = 10.0


# -- sync ---------------------------------------------------------------------------------
def sync(container: "Container", ask_runtime: bool = False, save: bool = True) -> None:
    """Bring the stored state in line with reality, cheaply.

    The monitor's exit file says a process has exited; a dead pid without an
    exit file means the monitor was killed, and then the runtime decides.
    A container left `configured` or `exited` with its own mount recorded was
    abandoned mid-init or mid-restore by a killed CLI: its runtime leftovers
    and mount are released, and so is the mount of an export or copy whose
    process was killed; a checkpoint's killed mid-dump thaws its container.  `save` False leaves an exit it records to the
    caller's next write (a stop's or a removal's cleanup: one commit fewer).
    """
    st = container.state
    release_temporary_mount(container)
    release_interrupted_checkpoint(container)
    if st.state in (State.CONFIGURED, State.EXITED) and st.mountpoint:
        _release_abandoned_init(container)
        return
    if st.state not in (State.CREATED, State.RUNNING, State.PAUSED):
        return
    exit_info = read_exit_file(container)
    if exit_info is None and pid_alive(st.monitor_pid) and not pid_alive(st.pid):
        # the process has gone and its monitor, alive, drains the last output
        # before it writes the exit file: the code is coming, not unknown
        if not ask_runtime or not wait_for_exit(container, MONITOR_FINISH_SECONDS):
            return
        exit_info = read_exit_file(container)
    if exit_info is None:
        if not ask_runtime and (st.state is State.CREATED or pid_alive(st.pid)):
            return
        backend = container.runtime.oci_runtime(container.config.runtime)
        status = (backend.state(container.id) or {}).get("status", "stopped")
        if status != "stopped":
            new_state = {"running": State.RUNNING, "paused": State.PAUSED, "created": State.CREATED}[status]
            if new_state is not st.state:
                st.state = new_state
                container.save()
            return
        exit_info = (UNKNOWN_EXIT_CODE, time.time())
        st.error = "the container's monitor died; its exit code is unknown"
    _record_exit(container, *exit_info, save=save)
    if not pid_alive(st.monitor_pid):
        cleanup(container)  # the monitor would have run it; with the monitor gone, do it here


class RunRootFiles:
    """What :func:`looks_stale` asks of the run root, a stat each: whether a
    container has a temporary mount or a checkpoint's marker, whether its exit
    file is there."""

    def __init__(self, paths) -> None:
        self.paths = paths

    def temporary_mount(self, container_id: str) -> bool:
        return os.path.exists(self.paths.temporary_mount(container_id))

    def exit_file(self, container_id: str) -> bool:
        return os.path.exists(self.paths.exit_file(container_id))

    def checkpoint_marker(self, container_id: str) -> bool:
        return os.path.exists(self.paths.checkpoint_marker(container_id))


class RunRootListing(RunRootFiles):
    """The same answers for a listing of many containers (ps, the API's list):
    the exits directory and the run directories listed once, then a set
    lookup per container instead of two stats and two id checks (no path is
    built from an id that is not one of the listed names).  The snapshot is
    as fresh as the stats were: an exit file written after it is the next
    listing's, as one written after a stat was."""

    def __init__(self, paths) -> None:
        super().__init__(paths)
        self.exits = _names(paths.exits_dir)
        self.run_dirs = _names(paths.container_run_dirs)

    def temporary_mount(self, container_id: str) -> bool:
        return container_id in self.run_dirs and super().temporary_mount(container_id)

    def checkpoint_marker(self, container_id: str) -> bool:
        return container_id in self.run_dirs and super().checkpoint_marker(container_id)

    def exit_file(self, container_id: str) -> bool:
        return container_id in self.exits


def _names(directory: str) -> frozenset[str]:
    try:
        return frozenset(os.listdir(directory))
    except FileNotFoundError:  # an emptied run root (a reboot): nothing there
        return frozenset()


def looks_stale(container: "Container", files: RunRootFiles | None = None) -> bool:
    """Whether :func:`sync` would change the record (cheap: no runtime call;
    `files` a RunRootListing when there are many containers to ask about)."""
    st = container.state
    files = files or RunRootFiles(container.runtime.paths)
    if files.temporary_mount(container.id):
        return True
    if st.state is State.RUNNING and files.checkpoint_marker(container.id):
        return True
    if st.state in (State.CONFIGURED, State.EXITED):
        return bool(st.mountpoint)
    if st.state not in (State.CREATED, State.RUNNING, State.PAUSED):
        return False
    return files.exit_file(container.id) or (st.state is not State.CREATED and not pid_alive(st.pid))


def _record_exit(container: "Container", exit_code: int, finished_at: float, save: bool = True,
                 died: bool = True) -> None:
    """Record the process's end (`save`=False: the caller saves it with its next write;
    `died`=False: no `died` event, for a checkpoint's end, as podman)."""
    st = container.state
    st.state = State.STOPPED
    st.stopping = False
    st.exit_code = exit_code
    st.finished_at = finished_at
    st.pid = 0
    try:  # taken once: the next run of the container starts without it
        os.unlink(container.runtime.paths.oom_marker(container.id))
        st.oom_killed = True
    except FileNotFoundError:
        pass
    if save:
        container.save()
    if st.oom_killed:
        container.runtime.emit("oom", container)
    if died:
        container.runtime.emit("died", container, containerExitCode=exit_code)


def read_exit_file(container: "Container") -> tuple[int, float] | None:
    """(exit code, finish time) from the monitor's exit file, or None while running."""
    path = container.runtime.paths.exit_file(container.id)
    try:
        with open(path) as handle:
            text = handle.read()
            finished = os.fstat(handle.fileno()).st_mtime
    except FileNotFoundError:
        return None
    try:
        return int(text.strip()), finished
    except ValueError:
        return UNKNOWN_EXIT_CODE, finished


def wait_for_exit(container: "Container", timeout: float | None) -> bool:
    """Wait (through the kernel: inotify on the exits directory, a pidfd on the
    monitor) until the monitor has written the exit file, or has died without
    writing it and the container's process has gone.  Returns False on timeout."""
    from .waiting import wait_for_exit_file

    return wait_for_exit_file(container.runtime.paths.exit_file(container.id), container.state.monitor_pid,
                              container.state.pid, timeout)


# -- mounts -------------------------------------------------------------------------------
def mount(container: "Container") -> str:
    """Mount the container's rootfs (once: the container's own mount) and record it."""
    from ..storage.rootfs import is_mounted

    st = container.state
    if st.mountpoint and is_mounted(st.mountpoint):
        return st.mountpoint
    runtime = container.runtime
    merged = _mount_rootfs(container)
    options = container.config.run_options
    if options.uid_mappings:
        from .userns import prepare

        prepare(runtime.paths.container_dir(container.id), merged, options.uid_mappings, options.gid_mappings)
    st.mountpoint = merged
    container.save(mount_delta=+1)
    from .volume_mounts import acquire

    acquire(container, merged)  # after the save: a crash leaves a user that sync releases
    return merged


def _mount_rootfs(container: "Container") -> str:
    """Mount the overlay (uncounted; an existing mount is reused); return its path."""
    from ..storage.rootfs import mount_overlay
    from .config import is_rootless

    runtime, config = container.runtime, container.config
    if config.rootfs and not config.rootfs_overlay:
        from ..storage.rootfs import bind_rootfs

        return bind_rootfs(config.rootfs, runtime.paths.container_dir(container.id))
    if config.rootfs:
        lower = [config.rootfs]
    else:
        image = runtime.store.image(config.image_id)
        lower = [runtime.paths.layer_diff(layer) for layer in reversed(image.layers)]
    fallback = ""
    if is_rootless():  # podman's rootless fallback where the kernel has no overlay for users
        import shutil

        fallback = shutil.which("fuse-overlayfs") or ""
    return mount_overlay(lower, runtime.paths.container_dir(container.id),
                         mount_program=runtime.config.mount_program, fallback_program=fallback)


def image_config(container: "Container") -> "ImageConfig":
    """What the container's image says about running it (nothing, for a `--rootfs` container)."""
    from ..state.records import ImageConfig

    if container.config.rootfs:
        return ImageConfig()
    return container.runtime.store.image(container.config.image_id).config


def unmount(container: "Container", force: bool = False) -> None:
    """Drop the container's own mount; the filesystem goes when no user mount remains
    (or at once with `force`)."""
    delta = _drop_mount(container, force)
    if delta:
        container.save(mount_delta=delta)


def _drop_mount(container: "Container", force: bool = False, sync_aside: bool = False) -> int:
    """:func:`unmount` without the save: the change of the mount count that the
    caller saves with the state (0: the container held no mount).  A crash
    before that save leaves the mount recorded, and the next unmount, finding
    nothing mounted, just records it.  The lock keeps the count still meanwhile."""
    from ..storage.rootfs import unmount as unmount_path

    from .volume_mounts import release

    st = container.state
    if not st.mountpoint:
        return 0
    release(container)
    count = container.runtime.store.mount_count(container.id)
    dropped = max(count if force else 1, 1)
    if count - dropped <= 0:
        if sync_aside:
            from ..storage.rootfs import unmount_sync_aside

            unmount_sync_aside(st.mountpoint)
        else:
            unmount_path(st.mountpoint)
    st.mountpoint = ""
    return -dropped


def _release_abandoned_init(container: "Container") -> None:
    """Undo an init or restore whose CLI died: the runtime's container, the
    network namespace, the mount."""
    _release_runtime_container(container)
    networking.teardown(container)
    unmount(container)


def _release_runtime_container(container: "Container") -> None:
    """Delete the container from the runtime if the runtime has it (an init or
    restore that failed, or was abandoned, after its monitor created it).  Its
    monitor, when alive, writes an exit file once the process is gone: that
    file is waited for and removed, or it would end the next start at once.
    A monitor that has not written it in :data:`MONITOR_RELEASE_SECONDS` (a
    loaded host) is killed, through a pidfd held from before the delete, and
    followed until it has gone: it cannot write the file later, under the
    next monitor's feet.  Its exit command is not needed: the callers clean up."""
    import select

    from .processes import monitor_of
    from .waiting import wait_for_exit_file

    backend = container.runtime.oci_runtime(container.config.runtime)
    found = backend.state(container.id)
    if found is None:
        return
    pid = int(found.get("pid") or 0)
    monitor = monitor_of(pid)
    exit_file = container.runtime.paths.exit_file(container.id)
    process = None
    if monitor:
        with contextlib.suppress(ProcessLookupError):  # gone already: it writes nothing more
            process = os.pidfd_open(monitor)
    try:
        backend.delete(container.id, force=True)
        if process is not None and not wait_for_exit_file(exit_file, monitor, pid, MONITOR_RELEASE_SECONDS):
            import signal

            signal.pidfd_send_signal(process, signal.SIGKILL)
            select.select([process], [], [], MONITOR_RELEASE_SECONDS)  # readable once it has exited
    finally:
        if process is not None:
            os.close(process)
    _remove_quietly(exit_file)


# -- init / start -------------------------------------------------------------------------
def init(container: "Container", retain_restart_count: bool = False, save: bool = True) -> None:
    """Create the container in the runtime through a new monitor; state `created`.
    A user's init or start resets the restart count; a restart by policy keeps it.
    `save` False leaves the record to the start that follows at once (one
    fsync less; the caller saves if it fails before): until then the record
    says `configured` with the rootfs mounted, which the next command's sync
    rolls back as an abandoned init.
    The monitor's interpreter is started first, unconfigured, so that its
    start-up runs beside the cleanup, the mount and the bundle; a failed init
    abandons it (it exits having done nothing)."""
    from .monitor_client import launch_monitor, pending_monitor

    pending = pending_monitor(container)
    try:
        if container.state.state in (State.STOPPED, State.EXITED):
            cleanup(container, keep_mount=True)  # a fresh create needs the old runtime container gone
        runtime, paths = container.runtime, container.runtime.paths
        with _unmounted_on_failure(container):
            fault("init.mount.before")
            rootfs = mount(container)
            fault("init.mount.after")
            if networking.needs_setup(container):
                fault("init.netns.before")
                networking.setup(container)
                fault("init.network-setup.after")
            backend = runtime.oci_runtime(container.config.runtime)
            userdata = _write_bundle(container, rootfs, backend)
            fault("init.bundle.after")
            oci_log = os.path.join(userdata, "oci-log")
            create = backend.create_command(container.id, userdata, paths.pid_file(container.id), oci_log)
            if container.config.run_options.cgroups == "disabled":  # crun's global flag (checked at create)
                create = _without_cgroups(create)
            fault("init.monitor.before")
            report = launch_monitor(container, create, pending=pending)
            fault("init.monitor.after")
    finally:
        pending.abandon()
    st = container.state
    st.state = State.CREATED
    st.pid, st.monitor_pid = report.pid, report.monitor_pid
    from .run_options import write_pid_files

    write_pid_files(container)
    st.exit_code = 0
    st.finished_at = 0.0
    st.oom_killed = False
    st.stopped_by_user = False
    st.error = ""
    _forget_checkpoint(st)
    if not retain_restart_count:
        st.restart_count = 0
    if save:
        container.save()
    fault("init.record.after")
    runtime.emit("init", container)


def _write_bundle(container: "Container", rootfs: str, backend: "OCIRuntime | None" = None) -> str:
    """Write the OCI bundle (the spec from config and image, as the pre_init
    hooks leave it) for a start or a restore; returns the bundle directory.
    A create's runtime `backend` has its say in the spec last (its checks, its
    annotations: :meth:`OCIRuntime.prepare_spec`); a restore's plugin runs
    its own command on the bundle as it is."""
    from . import spec as spec_module
    from .secrets import spec_config as with_secrets
    from .volume_mounts import spec_config

    from ..state.paths import make_private_dirs

    userdata = container.runtime.paths.userdata(container.id)
    make_private_dirs(userdata)
    spec = spec_module.generate(with_secrets(container, spec_config(container)), image_config(container), rootfs,
                                userdata)
    from . import run_options

    run_options.apply(spec, container, rootfs, userdata)
    networking.prepare_bundle(container, spec, userdata)
    if container.config.pod:
        from .pods import join_spec

        join_spec(container, spec)
    container.runtime.call_plugins("pre_init", container, spec)
    if backend is not None:
        backend.prepare_spec(container.id, spec)
    spec_module.write_bundle(spec, userdata)
    return userdata


@contextlib.contextmanager
def _unmounted_on_failure(container: "Container"):
    """Roll a failed init or restore back to the previous state: no runtime
    container, no network namespace or mount of its own, the error kept in the record."""
    try:
        yield
    except BaseException as exc:
        with contextlib.suppress(HuskError):
            _release_runtime_container(container)  # the monitor may have created it
        with contextlib.suppress(HuskError):
            networking.teardown(container)
        unmount(container)
        if isinstance(exc, HuskError):
            container.state.error = str(exc)
            container.save()
        raise


def _without_cgroups(argv: list[str]) -> list[str]:
    """crun's create argv with `--cgroup-manager disabled` in place of the backend's manager."""
    if "--cgroup-manager" in argv:
        at = argv.index("--cgroup-manager")
        return [*argv[:at + 1], "disabled", *argv[at + 2:]]
    return [argv[0], "--cgroup-manager", "disabled", *argv[1:]]


def start(container: "Container") -> None:
    """Start a created container's process; state `running`."""
    backend = container.runtime.oci_runtime(container.config.runtime)
    try:
        fault("start.runtime.before")
        backend.start(container.id)
        fault("start.runtime.after")
    except HuskError:
        # The process may have died at start (bad executable): record what happened
        # (init's record first, when this start was to save it).
        container.save()
        wait_for_exit(container, 1.0)
        sync(container, ask_runtime=True)
        raise
    st = container.state
    st.state = State.RUNNING
    st.started_at = time.time()
    from ..state.records import Health

    st.health = Health() if container.config.healthcheck is not None else None
    container.save()
    fault("start.record.after")
    from .run_options import notify_ready

    notify_ready(container.config.run_options, st.monitor_pid)
    container.runtime.emit("start", container)
    container.runtime.call_plugins("start", container)


# -- stop / kill --------------------------------------------------------------------------
def stop(container: "Container", timeout: int) -> None:
    """The stop signal, then SIGKILL after `timeout`; returns once the process has exited."""
    container.runtime.call_plugins("stop", container, timeout)
    backend = container.runtime.oci_runtime(container.config.runtime)
    container.state.stopped_by_user = True
    container.state.stopping = container.state.state is State.RUNNING  # until the exit is recorded
    container.save()
    try:
        fault("stop.record.after")
        _stop_process(container, backend, timeout)
    except BaseException:
        if container.state.stopping:  # the stop failed: the process runs on, not "stopping" for ever
            container.state.stopping = False
            container.save()
        raise


def _stop_process(container: "Container", backend: "OCIRuntime", timeout: int) -> None:
    from ..formats.signals import parse_signal

    if container.state.state is State.PAUSED:
        _thaw(container, backend)  # a frozen process receives no signal, not even SIGKILL
    if timeout > 0 and container.state.state is State.RUNNING:
        _signal(container, backend, parse_signal(container.config.stop_signal))
        if wait_for_exit(container, timeout):
            _finish_stop(container)
            return
        from ..define import logger

        logger().warning(
            "StopSignal %s failed to stop container %s in %d seconds, resorting to SIGKILL",
            container.config.stop_signal, container.name, timeout)
    import signal

    from .config import uses_cgroups

    # every process of the cgroup; without one (rootless), pid 1's death ends its pid namespace
    _signal(container, backend, signal.SIGKILL,
            all_processes=uses_cgroups(container.config.run_options.cgroup_parent))
    fault("stop.signal.after")
    if not wait_for_exit(container, 30):
        raise HuskError(f"container {container.id} did not exit within 30 seconds of SIGKILL")
    _finish_stop(container)


def _finish_stop(container: "Container") -> None:
    """Record the exit in memory: every stop is followed by a cleanup (the
    caller's, a removal's, a restart's init), whose write stores it.  A CLI
    killed before that leaves `stopping` stored and the exit file, which the
    exit command's (or the next command's) sync records."""
    sync(container, ask_runtime=False, save=False)
    if container.state.state in (State.CREATED, State.RUNNING, State.PAUSED):
        _record_exit(container, *(read_exit_file(container) or (UNKNOWN_EXIT_CODE, time.time())), save=False)
    fault("stop.exit-record.after")
    container.runtime.emit("stop", container)


def _signal(container: "Container", backend: "OCIRuntime", number: int, all_processes: bool = False) -> None:
    """Signal the container; a process that has already gone is not an error."""
    try:
        backend.kill(container.id, number, all_processes)
    except HuskError:
        if pid_alive(container.state.pid):
            raise


def kill(container: "Container", number: int) -> None:
    backend = container.runtime.oci_runtime(container.config.runtime)
    backend.kill(container.id, number)
    container.state.stopped_by_user = True
    container.save()
    container.runtime.emit("kill", container, signal=number)


# -- restart policy -----------------------------------------------------------------------
def restart_by_policy(container: "Container") -> bool:
    """Start a container that has just exited again when its restart policy says
    so (see husk.engine.restart); returns whether it did.  Only a `stopped` container
    qualifies: `exited` means it was cleaned up already (by a user's stop, or by
    an earlier cleanup), which must not bring it back."""
    from .restart import should_restart

    st = container.state
    if st.state is not State.STOPPED or not should_restart(
            container.config.restart_policy, st.exit_code, st.restart_count, st.stopped_by_user):
        return False
    from .dependencies import check_dependencies

    check_dependencies(container, recursive=False)
    container.runtime.emit("restart", container)
    try:
        init(container, retain_restart_count=True)  # passes through `exited`: still the old count
        st.restart_count += 1  # saved with the start (or by the cleanup when it fails)
        start(container)
    except BaseException:
        cleanup(container)
        raise
    return True


# -- refresh ------------------------------------------------------------------------------
def refresh(container: "Container") -> None:
    """Podman's Refresh: take the container down to its configuration, reset its
    state, and bring it back to created, running or paused as it was.  Exec
    sessions end with the container's process and are not brought back."""
    st = container.state
    was = st.state
    if st.state is State.PAUSED:
        unpause(container)
    if st.state in (State.RUNNING, State.CREATED):
        stop(container, container.config.stop_timeout if st.state is State.RUNNING else 0)
    cleanup(container)  # out of the runtime, rootfs unmounted
    if st.state is not State.EXITED:
        st.state = State.CONFIGURED
    st.pid = st.monitor_pid = 0
    st.mountpoint = ""
    st.exec_sessions = {}
    st.stopped_by_user = False
    st.restart_count = 0
    st.checkpointed = False
    container.save()
    if was in (State.CREATED, State.RUNNING, State.PAUSED):
        init(container)
    if was in (State.RUNNING, State.PAUSED):
        start(container)
    if was is State.PAUSED:
        pause(container)
    container.runtime.emit("refresh", container)


# -- cleanup / remove ---------------------------------------------------------------------
def cleanup(container: "Container", removing: bool = False, deleted: bool = False, keep_mount: bool = False,
            sync_aside: bool = False) -> None:
    """Delete the container from the runtime and drop its own mount; `stopped` becomes `exited`
    (`removing`, for :func:`remove`: `removing`, in the same write).  `deleted`:
    the runtime has already removed it (runc's checkpoint does), so no `delete` is run.
    `keep_mount`: init's, which mounts the rootfs again at once: the mount (and
    its volumes') stays, recorded, for it, so that a restart makes no unmount,
    mount and commit of the mount (~5 ms; a crash in between leaves an `exited`
    record with its mount, which sync releases as an abandoned init).
    `sync_aside`: a checkpoint's, whose unmount would sync CRIU's images:
    the filesystem's end is left to a detached process (rootfs.unmount_sync_aside).

    Plugins' cleanup failures are reported after the cleanup is complete, so a
    broken plugin never leaks a mount or a runtime container (nor lets a removal go on)."""
    st = container.state
    if st.state is State.EXITED and not st.mountpoint and not st.netns:
        if removing:
            st.state = State.REMOVING
            container.save()
        return
    plugin_error = None
    try:
        container.runtime.call_plugins("cleanup", container)
    except PluginFailure as exc:
        plugin_error = exc
    if st.exec_sessions:
        from .exec_session import reap

        reap(container, kill=True)
    if st.state in IN_RUNTIME and not deleted:
        fault("cleanup.runtime-delete.before")
        container.runtime.oci_runtime(container.config.runtime).delete(container.id, force=True)
        fault("cleanup.runtime-delete.after")
    networking.teardown(container, save=False)  # saved below, with the rest
    fault("cleanup.network-teardown.after")
    mount_delta = 0 if keep_mount else _drop_mount(container, sync_aside=sync_aside)  # saved below too
    fault("cleanup.unmount.after")
    from .secrets import discard

    discard(container)
    if st.state in (State.STOPPED, State.CREATED):
        st.state = State.EXITED
    if removing and plugin_error is None:
        st.state = State.REMOVING
    st.pid = 0
    container.save(mount_delta=mount_delta)
    fault("cleanup.record.after")
    if not container.config.auto_remove and not container.config.pod:
        # the monitor's exit command has nothing left (a --rm container's removes
        # it, a pod container's applies the pod's exit policy): see husk.monitor
        _remove_quietly(container.runtime.paths.cleanup_marker(container.id))
    container.runtime.emit("cleanup", container)
    if plugin_error is not None:
        raise plugin_error


def remove(container: "Container", timeout: int, volumes: bool = False) -> None:
    """Stop (a running or paused container: the caller has checked `force`),
    clean up, delete every trace of the container; with `volumes`, its
    anonymous volumes no other container uses too."""
    from .volume_mounts import anonymous_volumes, remove_volumes

    st = container.state
    if st.state in (State.RUNNING, State.PAUSED):
        stop(container, timeout)  # a paused one is thawed first
    elif st.state is State.CREATED:
        stop(container, 0)
    cleanup(container, removing=True)  # `removing` is saved with the cleanup's record
    fault("remove.record.after")
    networking.release(container)
    from ..storage.rootfs import unmount as unmount_path

    import shutil

    paths = container.runtime.paths
    unmount_path(os.path.join(paths.container_dir(container.id), "merged"))  # users' mounts too
    shutil.rmtree(paths.container_dir(container.id), ignore_errors=True)
    shutil.rmtree(paths.container_run_dir(container.id), ignore_errors=True)
    _remove_quietly(paths.exit_file(container.id))
    fault("remove.files.after")
    anonymous = anonymous_volumes(container.runtime, container.config) if volumes else []
    container.runtime.store.remove_container(container.config)
    fault("remove.records-deleted.after")
    container.runtime.emit("remove", container)
    _remove_quietly(paths.lock_path(container.id))
    remove_volumes(container.runtime, anonymous)


def update(container: "Container", config: "ContainerConfig") -> None:
    """Record `config` (new limits or restart policy); a container in the runtime
    gets the new limits at once, through the OCI runtime's `update`."""
    from . import resources

    from .run_options import merged

    in_runtime = container.state.state in (State.CREATED, State.RUNNING, State.PAUSED)
    finer = config.run_options.resources
    if in_runtime and (config.resources != container.config.resources
                       or finer != container.config.run_options.resources):
        backend = container.runtime.oci_runtime(container.config.runtime)
        document = merged(resources.update_document(config.resources), finer)
        document.pop("devices", None)  # the runtimes' update does not take device rules
        backend.update(container.id, document)
    container.runtime.store.rewrite_config(config)
    container.config = config
    container.runtime.emit("update", container)


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# -- pause / unpause / restart / users' mounts / export -----------------------------------
def pause(container: "Container") -> None:
    """Freeze every process of a running container (the runtime's cgroup freezer)."""
    container.runtime.oci_runtime(container.config.runtime).pause(container.id)
    container.state.state = State.PAUSED
    container.save()
    container.runtime.emit("pause", container)


def unpause(container: "Container") -> None:
    _thaw(container, container.runtime.oci_runtime(container.config.runtime))
    container.runtime.emit("unpause", container)


def _thaw(container: "Container", backend: "OCIRuntime") -> None:
    backend.resume(container.id)
    container.state.state = State.RUNNING
    container.save()


def kill_paused(container: "Container", number: int) -> None:
    """Signal a paused container.  The signal waits in the frozen processes until
    they are thawed -- except SIGKILL, which a user means to end the container
    now: the container is thawed so that it dies (the freezer holds even SIGKILL)."""
    import signal

    kill(container, number)
    if number != signal.SIGKILL:
        return
    backend = container.runtime.oci_runtime(container.config.runtime)
    try:
        backend.resume(container.id)
    except HuskError:
        # runc thaws a container itself after SIGKILL; it may already have
        if (backend.state(container.id) or {}).get("status") == "paused":
            raise
    container.state.state = State.RUNNING
    container.save()
    container.runtime.emit("unpause", container)


def restart(container: "Container", timeout: int) -> None:
    """Stop a running container (stop signal, SIGKILL after `timeout`), then start
    it again; a container that is not running is just started.  A failed start
    is cleaned up so that no half-created runtime container remains."""
    container.runtime.emit("restart", container)
    if container.state.state is State.RUNNING:
        stop(container, timeout)
    try:
        if container.state.state is not State.CREATED:
            init(container)
        start(container)
    except BaseException:
        if container.state.state in (State.CREATED, State.STOPPED):
            cleanup(container)
        raise


def users_mounts(container: "Container") -> int:
    """How many of the persisted mount count are users' (`husk mount`), not the container's own."""
    return max(0, container.runtime.store.mount_count(container.id) - (1 if container.state.mountpoint else 0))


def mount_for_user(container: "Container") -> str:
    """A user's mount of the rootfs (counted; the container's own mount is
    shared when there is one); returns the merged path."""
    merged = _mount_rootfs(container)
    container.runtime.store.change_mount_count(container.id, +1)
    container.runtime.emit("mount", container)
    return merged


def unmount_for_user(container: "Container", force: bool) -> bool:
    """Drop one user mount (all of them with `force`); the filesystem goes with
    the last mount.  The container's own mount is never dropped here.  Returns
    False when there was no user mount to drop."""
    users = users_mounts(container)
    if users == 0:
        return False
    _drop_user_mounts(container, users if force else 1)
    container.runtime.emit("unmount", container)
    return True


def _drop_user_mounts(container: "Container", count: int) -> None:
    from ..storage.rootfs import unmount as unmount_path

    if container.runtime.store.change_mount_count(container.id, -count) == 0:
        unmount_path(os.path.join(container.runtime.paths.container_dir(container.id), "merged"))


def export(container: "Container", target) -> None:
    """Write the rootfs as a tar stream to `target` (see husk.storage.export), mounting
    it for the time of the export when it is not mounted."""
    from ..storage.export import write_tar
    from .userns import refuse_chowned

    refuse_chowned(container.config, "export")
    with rootfs_mounted(container) as merged:
        write_tar(merged, target)
    container.runtime.emit("export", container)


@contextlib.contextmanager
def rootfs_mounted(container: "Container"):
    """The merged rootfs path, mounted for the time of the block when it was
    not mounted (export, copy).  Uncounted: the caller holds the lock
    throughout, so no one else can mount meanwhile.  A marker in the run
    directory stands for the mount while it is held, so that a holder killed
    mid-export (the lock goes with it) leaves a mount the next holder of the
    lock releases (:func:`release_temporary_mount`)."""
    from ..storage.rootfs import unmount as unmount_path

    mounted_here = container.runtime.store.mount_count(container.id) == 0
    marker = container.runtime.paths.temporary_mount(container.id)
    if mounted_here:
        os.makedirs(os.path.dirname(marker), mode=0o700, exist_ok=True)
        open(marker, "w").close()
    merged = _mount_rootfs(container)
    try:
        yield merged
    finally:
        if mounted_here:
            unmount_path(merged)
            _remove_quietly(marker)


def release_temporary_mount(container: "Container") -> None:
    """Under the lock: an export's or copy's mount whose holder died (its marker
    is left) is dropped, unless a counted mount has taken it over since.  Every
    locked command passes here: the mount code is imported only for a marker."""
    marker = container.runtime.paths.temporary_mount(container.id)
    if not os.path.exists(marker):
        return
    from ..storage.rootfs import unmount as unmount_path

    if container.runtime.store.mount_count(container.id) == 0:
        unmount_path(os.path.join(container.runtime.paths.container_dir(container.id), "merged"))
    _remove_quietly(marker)


# -- checkpoint / restore (the CRIU work is the checkpoint plugin's) ------------------------
def release_interrupted_checkpoint(container: "Container") -> None:
    """Under the lock: a checkpoint's marker left behind means its CLI died
    mid-dump.  A runtime may freeze the container for the dump (runc's backend
    pauses it first) and thaw it only if it goes on running, so a container
    the record says is running but the runtime says is paused is resumed; one
    the dump ended is the exit file's.  The marker is a file in the run root,
    not a record: a checkpoint that ends makes no extra commit for it."""
    marker = container.runtime.paths.checkpoint_marker(container.id)
    if not os.path.exists(marker):
        return
    if container.state.state is State.RUNNING:
        backend = container.runtime.oci_runtime(container.config.runtime)
        if (backend.state(container.id) or {}).get("status") == "paused":
            backend.resume(container.id)
    _remove_quietly(marker)


def checkpoint(container: "Container", options: dict) -> None:
    """Checkpoint through the plugin; unless the process keeps running, record
    its end like any exit (never restarted by policy) and mark the checkpoint."""
    fault("checkpoint.dump.before")
    marker = container.runtime.paths.checkpoint_marker(container.id)
    os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))  # see release_interrupted_checkpoint
    try:
        container.runtime.feature_plugins("checkpoint").checkpoint(container, options)
    except Exception:
        if not options.get("dumped"):  # nothing taken: the container is as it was
            raise
        _checkpointed(container, options)  # the export failed after the dump: restorable from the local one
        raise
    finally:
        _remove_quietly(marker)
    fault("checkpoint.dump.after")
    _checkpointed(container, options)
    fault("checkpoint.record.after")


def _checkpointed(container: "Container", options: dict) -> None:
    """Record a taken dump (the plugin has noted where its images are) and emit
    `checkpoint`.  Unless the process keeps running, its end is recorded as
    podman does: `exited` with exit code 0 (not the SIGKILL CRIU ended it with),
    no `died` event, `Checkpointed` and `CheckpointedAt` set, in cleanup's one
    write (a crash before it leaves a running record whose exit file the next
    command's sync records and cleans up)."""
    st = container.state
    if options.get("keep_running"):
        container.save()
        container.runtime.emit("checkpoint", container)
        return
    st.checkpointed, st.checkpointed_at = True, time.time()
    st.restored, st.restored_at = False, 0.0
    wait_for_exit(container, 30)
    st.stopped_by_user = True  # no restart policy brings a checkpointed process back
    if st.state in (State.CREATED, State.RUNNING, State.PAUSED):
        finished = read_exit_file(container)
        _record_exit(container, 0, finished[1] if finished else time.time(), save=False, died=False)
    container.runtime.emit("checkpoint", container)
    cleanup(container, deleted=container.runtime.oci_runtime(container.config.runtime).checkpoint_deletes,
            sync_aside=True)


def _forget_checkpoint(st) -> None:
    """What inspect says of a checkpoint and a restore goes at the next start, as podman's init clears it."""
    st.checkpointed, st.checkpointed_at, st.restored, st.restored_at = False, 0.0, False, 0.0
    st.checkpoint_path = st.checkpoint_log = st.restore_log = ""


def restore(container: "Container", options: dict) -> None:
    """Rebuild the bundle (fresh mount and spec, pre_init hooks) and let the
    plugin restore the process under a new monitor; the container is running.
    `options["publish"]` (port mappings) replaces its published ports.
    The monitor's interpreter is started first, unconfigured (unless the
    caller has started one already: `options["monitor"]`), so that its
    start-up runs beside the mount and the bundle; the plugin hands it its
    configuration, and an unused one is abandoned."""
    if options.get("monitor") is None:
        from .monitor_client import pending_monitor

        options["monitor"] = pending_monitor(container)
    try:
        cleanup(container)
        with _unmounted_on_failure(container):
            rootfs = mount(container)
            fault("restore.mount.after")
            if options.get("publish") is not None:
                networking.republish(container, options["publish"])
            if networking.needs_setup(container):
                networking.setup(container, bool(options.get("ignore_static_ip")),
                                 bool(options.get("ignore_static_mac")))
            _write_bundle(container, rootfs)
            fault("restore.runtime.before")
            container.runtime.feature_plugins("restore").restore(container, options)  # sets st.pid and monitor_pid
            fault("restore.runtime.after")
    finally:
        options.pop("monitor").abandon()
    st = container.state
    st.state = State.RUNNING
    st.checkpointed, st.checkpointed_at = False, 0.0
    st.restored, st.restored_at = True, time.time()
    st.started_at = st.restored_at
    st.exit_code, st.finished_at = 0, 0.0
    st.stopped_by_user = st.oom_killed = False
    st.error = ""
    container.save()
    fault("restore.record.after")
    container.runtime.emit("restore", container)
