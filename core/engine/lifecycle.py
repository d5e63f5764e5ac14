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
import signal as signal_module
import time
from typing import TYPE_CHECKING

from ..define import IN_RUNTIME, HuskError, PluginFailure, State
from .processes import pid_alive

if TYPE_CHECKING:
    from ..state.records import ContainerConfig
    from .container import Container

UNKNOWN_EXIT_CODE = -1


# -- sync ---------------------------------------------------------------------------------
def sync(ctr: "Container", ask_runtime: bool = False) -> None:
    """Bring the stored state in line with reality, cheaply.

    The monitor's exit file says a process has exited; a dead pid without an
    exit file means the monitor was killed, and then the runtime decides.
    A container left `configured` with its own mount recorded was abandoned
    mid-init by a killed CLI: its runtime leftovers and mount are released,
    and so is the mount of an export or copy whose process was killed.
    """
    st = ctr.state
    release_temporary_mount(ctr)
    if st.state is State.CONFIGURED and st.mountpoint:
        _release_abandoned_init(ctr)
        return
    if st.state not in (State.CREATED, State.RUNNING, State.PAUSED):
        return
    exit_info = read_exit_file(ctr)
    if exit_info is None:
        if not ask_runtime and (st.state is State.CREATED or pid_alive(st.pid)):
            return
        status = (ctr.runtime.oci_runtime(ctr.config.runtime).state(ctr.id) or {}).get("status", "stopped")
        if status != "stopped":
            new_state = {"running": State.RUNNING, "paused": State.PAUSED, "created": State.CREATED}[status]
            if new_state is not st.state:
                st.state = new_state
                ctr.save()
            return
        exit_info = (UNKNOWN_EXIT_CODE, time.time())
        st.error = "the container's monitor died; its exit code is unknown"
    _record_exit(ctr, *exit_info)
    if not pid_alive(st.monitor_pid):
        cleanup(ctr)  # the monitor would have run it; with the monitor gone, do it here


def looks_stale(ctr: "Container") -> bool:
    """Whether :func:`sync` would change the record (cheap: no runtime call)."""
    st = ctr.state
    if os.path.exists(ctr.runtime.paths.temporary_mount(ctr.id)):
        return True
    if st.state is State.CONFIGURED:
        return bool(st.mountpoint)
    if st.state not in (State.CREATED, State.RUNNING, State.PAUSED):
        return False
    return os.path.exists(ctr.runtime.paths.exit_file(ctr.id)) or (
        st.state is not State.CREATED and not pid_alive(st.pid))


def _record_exit(ctr: "Container", exit_code: int, finished_at: float) -> None:
    st = ctr.state
    st.state = State.STOPPED
    st.exit_code = exit_code
    st.finished_at = finished_at
    st.pid = 0
    ctr.save()
    ctr.runtime.emit("died", ctr, containerExitCode=exit_code)


def read_exit_file(ctr: "Container") -> tuple[int, float] | None:
    """(exit code, finish time) from the monitor's exit file, or None while running."""
    path = ctr.runtime.paths.exit_file(ctr.id)
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


def wait_for_exit(ctr: "Container", timeout: float | None) -> bool:
    """Wait (through the kernel: inotify on the exits directory, a pidfd on the
    monitor) until the monitor has written the exit file, or has died without
    writing it and the container's process has gone.  Returns False on timeout."""
    from .waiting import wait_for_exit_file

    return wait_for_exit_file(ctr.runtime.paths.exit_file(ctr.id), ctr.state.monitor_pid,
                              ctr.state.pid, timeout)


# -- mounts -------------------------------------------------------------------------------
def mount(ctr: "Container") -> str:
    """Mount the container's rootfs (once: the container's own mount) and record it."""
    from ..storage.rootfs import is_mounted

    st = ctr.state
    if st.mountpoint and is_mounted(st.mountpoint):
        return st.mountpoint
    runtime = ctr.runtime
    merged = _mount_rootfs(ctr)
    runtime.store.change_mount_count(ctr.id, +1)
    st.mountpoint = merged
    ctr.save()
    return merged


def _mount_rootfs(ctr: "Container") -> str:
    """Mount the overlay (uncounted; an existing mount is reused); return its path."""
    from ..storage.rootfs import mount_overlay

    runtime = ctr.runtime
    image = runtime.store.image(ctr.config.image_id)
    lower = [runtime.paths.layer_diff(layer) for layer in reversed(image.layers)]
    return mount_overlay(lower, runtime.paths.container_dir(ctr.id))


def unmount(ctr: "Container", force: bool = False) -> None:
    """Drop the container's own mount; the filesystem goes when no user mount remains
    (or at once with `force`)."""
    from ..storage.rootfs import unmount as unmount_path

    st = ctr.state
    if not st.mountpoint:
        return
    store = ctr.runtime.store
    remaining = store.change_mount_count(ctr.id, -(store.mount_count(ctr.id) if force else 1))
    if remaining == 0:
        unmount_path(st.mountpoint)
    st.mountpoint = ""
    ctr.save()


def _release_abandoned_init(ctr: "Container") -> None:
    backend = ctr.runtime.oci_runtime(ctr.config.runtime)
    if backend.state(ctr.id) is not None:
        backend.delete(ctr.id, force=True)
    unmount(ctr)


# -- init / start -------------------------------------------------------------------------
def init(ctr: "Container", retain_restart_count: bool = False) -> None:
    """Create the container in the runtime through a new monitor; state `created`.
    A user's init or start resets the restart count; a restart by policy keeps it."""
    from .monitor_client import launch_monitor

    if ctr.state.state in (State.STOPPED, State.EXITED):
        cleanup(ctr)  # a fresh create needs the old runtime container gone
    runtime, paths = ctr.runtime, ctr.runtime.paths
    with _unmounted_on_failure(ctr):
        userdata = _write_bundle(ctr, mount(ctr))
        backend = runtime.oci_runtime(ctr.config.runtime)
        oci_log = os.path.join(userdata, "oci-log")
        report = launch_monitor(ctr, backend.create_command(ctr.id, userdata, paths.pid_file(ctr.id), oci_log))
    st = ctr.state
    st.state = State.CREATED
    st.pid, st.monitor_pid = report.pid, report.monitor_pid
    st.exit_code = 0
    st.finished_at = 0.0
    st.oom_killed = False
    st.stopped_by_user = False
    st.error = ""
    if not retain_restart_count:
        st.restart_count = 0
    ctr.save()
    runtime.emit("init", ctr)


def _write_bundle(ctr: "Container", rootfs: str) -> str:
    """Write the OCI bundle (the spec from config and image, as the pre_init
    hooks leave it) for a start or a restore; returns the bundle directory."""
    from . import spec as spec_module

    from ..state.paths import make_private_dirs

    userdata = ctr.runtime.paths.userdata(ctr.id)
    make_private_dirs(userdata)
    image = ctr.runtime.store.image(ctr.config.image_id)
    spec = spec_module.generate(ctr.config, image.config, rootfs, userdata)
    ctr.runtime.plugins.pre_init(ctr, spec)
    spec_module.write_bundle(spec, userdata)
    return userdata


@contextlib.contextmanager
def _unmounted_on_failure(ctr: "Container"):
    """Roll a failed init or restore back to the previous state: no runtime
    container, no mount of its own, the error kept in the record."""
    try:
        yield
    except BaseException as exc:
        unmount(ctr)
        if isinstance(exc, HuskError):
            ctr.state.error = str(exc)
            ctr.save()
        raise


def start(ctr: "Container") -> None:
    """Start a created container's process; state `running`."""
    backend = ctr.runtime.oci_runtime(ctr.config.runtime)
    try:
        backend.start(ctr.id)
    except HuskError:
        # The process may have died at start (bad executable): record what happened.
        wait_for_exit(ctr, 1.0)
        sync(ctr, ask_runtime=True)
        raise
    st = ctr.state
    st.state = State.RUNNING
    st.started_at = time.time()
    ctr.save()
    ctr.runtime.emit("start", ctr)
    ctr.runtime.plugins.start(ctr)


# -- stop / kill --------------------------------------------------------------------------
def stop(ctr: "Container", timeout: int) -> None:
    """The stop signal, then SIGKILL after `timeout`; returns once the process has exited."""
    from ..formats.signals import parse_signal

    ctr.runtime.plugins.stop(ctr, timeout)
    backend = ctr.runtime.oci_runtime(ctr.config.runtime)
    ctr.state.stopped_by_user = True
    ctr.save()
    if ctr.state.state is State.PAUSED:
        _thaw(ctr, backend)  # a frozen process receives no signal, not even SIGKILL
    if timeout > 0 and ctr.state.state is State.RUNNING:
        _signal(backend, ctr, parse_signal(ctr.config.stop_signal))
        if wait_for_exit(ctr, timeout):
            _finish_stop(ctr)
            return
    _signal(backend, ctr, signal_module.SIGKILL, all_processes=True)
    if not wait_for_exit(ctr, 30):
        raise HuskError(f"container {ctr.id} did not exit within 30 seconds of SIGKILL")
    _finish_stop(ctr)


def _finish_stop(ctr: "Container") -> None:
    sync(ctr, ask_runtime=False)
    if ctr.state.state in (State.CREATED, State.RUNNING, State.PAUSED):
        _record_exit(ctr, *(read_exit_file(ctr) or (UNKNOWN_EXIT_CODE, time.time())))
    ctr.runtime.emit("stop", ctr)


def _signal(backend, ctr: "Container", number: int, all_processes: bool = False) -> None:
    """Signal the container; a process that has already gone is not an error."""
    try:
        backend.kill(ctr.id, number, all_processes)
    except HuskError:
        if pid_alive(ctr.state.pid):
            raise


def kill(ctr: "Container", number: int) -> None:
    backend = ctr.runtime.oci_runtime(ctr.config.runtime)
    backend.kill(ctr.id, number)
    ctr.state.stopped_by_user = True
    ctr.save()
    ctr.runtime.emit("kill", ctr, signal=number)


# -- restart policy -----------------------------------------------------------------------
def restart_by_policy(ctr: "Container") -> bool:
    """Start a container that has just exited again when its restart policy says
    so (see husk.engine.restart); returns whether it did.  Only a `stopped` container
    qualifies: `exited` means it was cleaned up already (by a user's stop, or by
    an earlier cleanup), which must not bring it back."""
    from .restart import should_restart

    st = ctr.state
    if st.state is not State.STOPPED or not should_restart(
            ctr.config.restart_policy, st.exit_code, st.restart_count, st.stopped_by_user):
        return False
    from .dependencies import check_dependencies

    check_dependencies(ctr, recursive=False)
    ctr.runtime.emit("restart", ctr)
    try:
        init(ctr, retain_restart_count=True)  # passes through `exited`: still the old count
        st.restart_count += 1  # saved with the start (or by the cleanup when it fails)
        start(ctr)
    except BaseException:
        cleanup(ctr)
        raise
    return True


# -- refresh ------------------------------------------------------------------------------
def refresh(ctr: "Container") -> None:
    """Podman's Refresh: take the container down to its configuration, reset its
    state, and bring it back to created, running or paused as it was.  Exec
    sessions end with the container's process and are not brought back."""
    st = ctr.state
    was = st.state
    if st.state is State.PAUSED:
        unpause(ctr)
    if st.state in (State.RUNNING, State.CREATED):
        stop(ctr, ctr.config.stop_timeout if st.state is State.RUNNING else 0)
    cleanup(ctr)  # out of the runtime, rootfs unmounted
    if st.state is not State.EXITED:
        st.state = State.CONFIGURED
    st.pid = st.monitor_pid = 0
    st.mountpoint = ""
    st.exec_sessions = {}
    st.stopped_by_user = False
    st.restart_count = 0
    st.checkpointed = False
    ctr.save()
    if was in (State.CREATED, State.RUNNING, State.PAUSED):
        init(ctr)
    if was in (State.RUNNING, State.PAUSED):
        start(ctr)
    if was is State.PAUSED:
        pause(ctr)
    ctr.runtime.emit("refresh", ctr)


# -- cleanup / remove ---------------------------------------------------------------------
def cleanup(ctr: "Container") -> None:
    """Delete the container from the runtime and drop its own mount; `stopped` becomes `exited`.

    Plugins' cleanup failures are reported after the cleanup is complete, so a
    broken plugin never leaks a mount or a runtime container."""
    st = ctr.state
    if st.state is State.EXITED and not st.mountpoint:
        return
    plugin_error = None
    try:
        ctr.runtime.plugins.cleanup(ctr)
    except PluginFailure as exc:
        plugin_error = exc
    if st.exec_sessions:
        from .exec_session import reap

        reap(ctr, kill=True)
    if st.state in IN_RUNTIME:
        ctr.runtime.oci_runtime(ctr.config.runtime).delete(ctr.id, force=True)
    unmount(ctr)
    if st.state in (State.STOPPED, State.CREATED):
        st.state = State.EXITED
    st.pid = 0
    ctr.save()
    ctr.runtime.emit("cleanup", ctr)
    if plugin_error is not None:
        raise plugin_error


def remove(ctr: "Container", timeout: int) -> None:
    """Stop (a running or paused container: the caller has checked `force`),
    clean up, delete every trace of the container."""
    st = ctr.state
    if st.state in (State.RUNNING, State.PAUSED):
        stop(ctr, timeout)  # a paused one is thawed first
    elif st.state is State.CREATED:
        stop(ctr, 0)
    cleanup(ctr)
    st.state = State.REMOVING
    ctr.save()
    from ..storage.rootfs import unmount as unmount_path

    import shutil

    paths = ctr.runtime.paths
    unmount_path(os.path.join(paths.container_dir(ctr.id), "merged"))  # users' mounts too
    shutil.rmtree(paths.container_dir(ctr.id), ignore_errors=True)
    shutil.rmtree(paths.container_run_dir(ctr.id), ignore_errors=True)
    _remove_quietly(paths.exit_file(ctr.id))
    ctr.runtime.store.remove_container(ctr.config)
    ctr.runtime.emit("remove", ctr)
    _remove_quietly(paths.lock_path(ctr.id))


def update(ctr: "Container", config: "ContainerConfig") -> None:
    """Record `config` (new limits or restart policy); a container in the runtime
    gets the new limits at once, through the OCI runtime's `update`."""
    from . import resources

    if config.resources != ctr.config.resources and ctr.state.state in (State.CREATED, State.RUNNING, State.PAUSED):
        ctr.runtime.oci_runtime(ctr.config.runtime).update(ctr.id, resources.update_document(config.resources))
    ctr.runtime.store.rewrite_config(config)
    ctr.config = config
    ctr.runtime.emit("update", ctr)


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# -- pause / unpause / restart / users' mounts / export -----------------------------------
def pause(ctr: "Container") -> None:
    """Freeze every process of a running container (the runtime's cgroup freezer)."""
    ctr.runtime.oci_runtime(ctr.config.runtime).pause(ctr.id)
    ctr.state.state = State.PAUSED
    ctr.save()
    ctr.runtime.emit("pause", ctr)


def unpause(ctr: "Container") -> None:
    _thaw(ctr, ctr.runtime.oci_runtime(ctr.config.runtime))
    ctr.runtime.emit("unpause", ctr)


def _thaw(ctr: "Container", backend) -> None:
    backend.resume(ctr.id)
    ctr.state.state = State.RUNNING
    ctr.save()


def kill_paused(ctr: "Container", number: int) -> None:
    """Signal a paused container.  The signal waits in the frozen processes until
    they are thawed -- except SIGKILL, which a user means to end the container
    now: the container is thawed so that it dies (the freezer holds even SIGKILL)."""
    kill(ctr, number)
    if number != signal_module.SIGKILL:
        return
    backend = ctr.runtime.oci_runtime(ctr.config.runtime)
    try:
        backend.resume(ctr.id)
    except HuskError:
        # runc thaws a container itself after SIGKILL; it may already have
        if (backend.state(ctr.id) or {}).get("status") == "paused":
            raise
    ctr.state.state = State.RUNNING
    ctr.save()
    ctr.runtime.emit("unpause", ctr)


def restart(ctr: "Container", timeout: int) -> None:
    """Stop a running container (stop signal, SIGKILL after `timeout`), then start
    it again; a container that is not running is just started.  A failed start
    is cleaned up so that no half-created runtime container remains."""
    ctr.runtime.emit("restart", ctr)
    if ctr.state.state is State.RUNNING:
        stop(ctr, timeout)
    try:
        if ctr.state.state is not State.CREATED:
            init(ctr)
        start(ctr)
    except BaseException:
        if ctr.state.state in (State.CREATED, State.STOPPED):
            cleanup(ctr)
        raise


def users_mounts(ctr: "Container") -> int:
    """How many of the persisted mount count are users' (`husk mount`), not the container's own."""
    return max(0, ctr.runtime.store.mount_count(ctr.id) - (1 if ctr.state.mountpoint else 0))


def mount_for_user(ctr: "Container") -> str:
    """A user's mount of the rootfs (counted; the container's own mount is
    shared when there is one); returns the merged path."""
    merged = _mount_rootfs(ctr)
    ctr.runtime.store.change_mount_count(ctr.id, +1)
    ctr.runtime.emit("mount", ctr)
    return merged


def unmount_for_user(ctr: "Container", force: bool) -> bool:
    """Drop one user mount (all of them with `force`); the filesystem goes with
    the last mount.  The container's own mount is never dropped here.  Returns
    False when there was no user mount to drop."""
    users = users_mounts(ctr)
    if users == 0:
        return False
    _drop_user_mounts(ctr, users if force else 1)
    ctr.runtime.emit("unmount", ctr)
    return True


def _drop_user_mounts(ctr: "Container", count: int) -> None:
    from ..storage.rootfs import unmount as unmount_path

    if ctr.runtime.store.change_mount_count(ctr.id, -count) == 0:
        unmount_path(os.path.join(ctr.runtime.paths.container_dir(ctr.id), "merged"))


def export(ctr: "Container", target) -> None:
    """Write the rootfs as a tar stream to `target` (see husk.storage.export), mounting
    it for the time of the export when it is not mounted."""
    from ..storage.export import write_tar

    with rootfs_mounted(ctr) as merged:
        write_tar(merged, target)
    ctr.runtime.emit("export", ctr)


@contextlib.contextmanager
def rootfs_mounted(ctr: "Container"):
    """The merged rootfs path, mounted for the time of the block when it was
    not mounted (export, copy).  Uncounted: the caller holds the lock
    throughout, so no one else can mount meanwhile.  A marker in the run
    directory stands for the mount while it is held, so that a holder killed
    mid-export (the lock goes with it) leaves a mount the next holder of the
    lock releases (:func:`release_temporary_mount`)."""
    from ..storage.rootfs import unmount as unmount_path

    mounted_here = ctr.runtime.store.mount_count(ctr.id) == 0
    marker = ctr.runtime.paths.temporary_mount(ctr.id)
    if mounted_here:
        os.makedirs(os.path.dirname(marker), mode=0o700, exist_ok=True)
        open(marker, "w").close()
    merged = _mount_rootfs(ctr)
    try:
        yield merged
    finally:
        if mounted_here:
            unmount_path(merged)
            _remove_quietly(marker)


def release_temporary_mount(ctr: "Container") -> None:
    """Under the lock: an export's or copy's mount whose holder died (its marker
    is left) is dropped, unless a counted mount has taken it over since."""
    from ..storage.rootfs import unmount as unmount_path

    marker = ctr.runtime.paths.temporary_mount(ctr.id)
    if not os.path.exists(marker):
        return
    if ctr.runtime.store.mount_count(ctr.id) == 0:
        unmount_path(os.path.join(ctr.runtime.paths.container_dir(ctr.id), "merged"))
    _remove_quietly(marker)


# -- checkpoint / restore (the CRIU work is the checkpoint plugin's) ------------------------
def checkpoint(ctr: "Container", options: dict) -> None:
    """Checkpoint through the plugin; unless the process keeps running, record
    its end like any exit (never restarted by policy) and mark the checkpoint."""
    ctr.runtime.plugins.checkpoint(ctr, options)
    st = ctr.state
    if not options.get("keep_running"):
        wait_for_exit(ctr, 30)
        st.stopped_by_user = True  # no restart policy brings a checkpointed process back
        sync(ctr)
        if st.state in (State.CREATED, State.RUNNING, State.PAUSED):
            _record_exit(ctr, *(read_exit_file(ctr) or (0, time.time())))
        cleanup(ctr)
    st.checkpointed = True
    ctr.save()
    ctr.runtime.emit("checkpoint", ctr)


def restore(ctr: "Container", options: dict) -> None:
    """Rebuild the bundle (fresh mount and spec, pre_init hooks) and let the
    plugin restore the process under a new monitor; the container is running."""
    cleanup(ctr)
    with _unmounted_on_failure(ctr):
        _write_bundle(ctr, mount(ctr))
        ctr.runtime.plugins.restore(ctr, options)  # sets st.pid and st.monitor_pid
    st = ctr.state
    st.state = State.RUNNING
    st.checkpointed = False
    st.started_at = time.time()
    st.exit_code, st.finished_at = 0, 0.0
    st.stopped_by_user = st.oom_killed = False
    st.error = ""
    ctr.save()
    ctr.runtime.emit("restore", ctr)
