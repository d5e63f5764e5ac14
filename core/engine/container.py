"""The public Container API (podman's Container): thin by design.

Each method takes the container's lock (unless inside :meth:`Container.batch`),
re-reads and syncs the state, checks that the operation is allowed in that
state (with the seed's messages), and calls the internal step in
:mod:`husk.engine.lifecycle`, which does the work and emits the event.  Programs use
these methods; the CLI and the API service are thin layers over them.
"""

from __future__ import annotations

import contextlib
import os

import msgspec
from typing import TYPE_CHECKING, Callable, Iterator, TypeVar

from . import lifecycle
from ..define import (AlreadyRunning, AlreadyStopped, ContainerRemoved, ContainerRunning, HuskError, InvalidArgument,
                      NoSuchContainer, State, StateInvalid)
from ..state.lock import FileLock
from ..state.records import ContainerConfig, ContainerState

if TYPE_CHECKING:
    from typing import BinaryIO

    from .exec_session import ExecLaunch, ExecProcess
    from .runtime import Runtime

T = TypeVar("T")
DEFAULT_WAIT_INTERVAL = 0.25
#: how long start_and_attach waits for the monitor to take its client before the start (see AttachClient.sync)
ATTACH_SYNC_SECONDS = 10.0


def check_timeout(timeout: int | None) -> None:
    """A stop timeout is None (the container's own) or 0 or more seconds."""
    if timeout is not None and timeout < 0:
        raise InvalidArgument(f"invalid timeout {timeout}: must be 0 or more seconds")


class Container:
    def __init__(self, runtime: "Runtime", config: ContainerConfig, state: ContainerState) -> None:
        self.runtime = runtime
        self.config = config
        self.state = state
        self._lock: FileLock | None = None
        self._batched = False
        self._valid = True

    @property
    def lock(self) -> FileLock:
        """The container's lock, made when first asked for: a listing reads every
        container and locks none (a lock's id check and thread lock were 2.5 us
        of each of a `ps`'s 200)."""
        if self._lock is None:
            self._lock = FileLock(self.runtime.paths.lock_path(self.config.id))
        return self._lock

    @lock.setter
    def lock(self, lock: FileLock) -> None:
        self._lock = lock

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def name(self) -> str:
        return self.config.name

    def __repr__(self) -> str:
        return f"<Container {self.id[:12]} {self.name} {self.state.state}>"

    # -- locking and syncing ------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, sync: bool = True) -> Iterator[None]:
        """Hold the lock with fresh, synced state; inside a batch, do nothing."""
        if self._batched:
            yield
            return
        if not self._valid:
            raise ContainerRemoved(f"container {self.id} has been removed")
        self.lock.acquire()
        try:
            self.reload()
            if sync:
                lifecycle.sync(self)
            yield
        finally:
            self.lock.release()

    def reload(self) -> None:
        """Re-read the state -- and the config, which rename and update may
        have rewritten -- from the store (raises NoSuchContainer once removed)."""
        self.state = self.runtime.store.container_state(self.id)
        self.config = self.runtime.store.container_config(self.id)

    def save(self, mount_delta: int = 0) -> None:
        """Store the state (and, in the same transaction, a change of the mount count)."""
        self.runtime.store.save_state(self.id, self.state, mount_delta)

    def _require(self, *states: State, message: str) -> None:
        if self.state.state not in states:
            raise StateInvalid(message)

    # -- lifecycle ----------------------------------------------------------------------
    def init(self) -> None:
        """Create the container in the OCI runtime (state `created`), without starting it."""
        from .dependencies import check_dependencies

        with self._locked():
            self._require(State.CONFIGURED, State.STOPPED, State.EXITED,
                          message=f"container {self.id} has already been created in runtime")
            check_dependencies(self, recursive=False)
            lifecycle.init(self)

    def start(self, recursive: bool = False) -> None:
        """Start the container, initialising it first when needed."""
        with self._locked():
            self._prepare_to_start(recursive)
            lifecycle.start(self)  # saves init's record too (or syncs it when the start fails)

    def _stop_timeout(self, timeout: int | None) -> int:
        """The one rule for stop timeouts: None is the container's own, 0 or more
        seconds is that, a negative one is refused (as the CLI and the API see it)."""
        check_timeout(timeout)
        return self.config.stop_timeout if timeout is None else timeout

    def _prepare_to_start(self, recursive: bool) -> None:
        """start's state checks (and its dependencies'), then init when needed,
        whose record the start saves (see lifecycle.init)."""
        state = self.state.state
        if state is State.RUNNING:
            raise AlreadyRunning(f"container {self.id} is already running")
        if state is State.PAUSED:
            raise StateInvalid(f"container {self.id} must be in Created or Stopped state to be started")
        if state is State.REMOVING:
            raise StateInvalid(f"container {self.id} is being removed")
        from .dependencies import check_dependencies

        check_dependencies(self, recursive)
        if state is not State.CREATED:
            lifecycle.init(self, save=False)

    def stop(self, timeout: int | None = None) -> None:
        """The stop signal, then SIGKILL after `timeout` seconds (None: the
        container's stop timeout; 0: SIGKILL at once)."""
        timeout = self._stop_timeout(timeout)
        with self._locked():
            if self.state.state is State.STOPPED and not self.state.stopped_by_user:
                # it exited on its own and the exit command has not run yet: the
                # user's stop still means "do not restart it by policy"
                self.state.stopped_by_user = True
                self.save()
            if self.state.state in (State.STOPPED, State.EXITED):
                raise AlreadyStopped()
            self._require(State.CREATED, State.RUNNING, State.PAUSED, message=(
                f"can only stop created or running containers. {self.id} is in state {self.state.state}"))
            lifecycle.stop(self, timeout)
            lifecycle.cleanup(self)

    def kill(self, signal: int) -> None:
        """Send `signal` to the container's process; marks the container stopped by the user.
        A paused container takes it when thawed, except SIGKILL, which thaws it at once."""
        with self._locked():
            self._require(State.RUNNING, State.PAUSED, message=(
                f"can only kill running containers. {self.id} is in state {self.state.state}"))
            if self.state.state is State.PAUSED:
                lifecycle.kill_paused(self, signal)
            else:
                lifecycle.kill(self, signal)

    def cleanup(self, exit_of_monitor: int = 0) -> None:
        """Release what a stopped container holds (runtime state, rootfs mount);
        removes it when it was created with --rm.  Run by the monitor on exit,
        which is when a restart policy applies: a container that has just
        exited (not stopped or killed by the user) may be started again instead.
        `exit_of_monitor` (the exit command's: its parent monitor's pid) makes it
        a no-op once the container runs under a newer monitor (re-initialised
        meanwhile by a restart or refresh): that exit is old news."""
        with self._locked():
            if exit_of_monitor and self.state.monitor_pid not in (0, exit_of_monitor):
                return
            # `removing`: a --rm container whose removal died half-way (run's own, or rm's): finish it
            removable = (State.REMOVING,) if self.config.auto_remove else ()
            self._require(State.CONFIGURED, State.CREATED, State.STOPPED, State.EXITED, *removable,
                          message=f"container {self.id} is running or paused, refusing to clean up")
            if lifecycle.restart_by_policy(self):
                return
            lifecycle.cleanup(self)
            if self.config.auto_remove:
                lifecycle.remove(self, timeout=0, volumes=True)  # podman's --rm takes anonymous volumes too
                self._valid = False
        if self.config.pod:  # after the lock: stopping the pod takes its infra container's
            from .pods import apply_exit_policy

            apply_exit_policy(self)

    def remove(self, force: bool = False, timeout: int | None = None, volumes: bool = False) -> None:
        """Remove the container; running or paused ones only with `force` (stopped
        first, SIGKILL after `timeout` seconds: None is the container's stop timeout).
        `volumes` removes its anonymous volumes that no other container uses (`rm -v`)."""
        timeout = self._stop_timeout(timeout)
        if self._batched:
            raise StateInvalid("a container cannot be removed inside a batch", improper=False)
        if not force:
            self._refuse_removal_of_infra()
            self._refuse_removal_with_dependents()
        with self._locked(sync=False):
            lifecycle.sync(self, save=False)  # an exit found is stored by the removal's cleanup
            if self.state.state in (State.RUNNING, State.PAUSED) and not force:
                raise ContainerRunning(
                    f"cannot remove container {self.id} as it is {self.state.state} - running or paused containers "
                    "cannot be removed without force: container state improper")
            lifecycle.remove(self, timeout, volumes=volumes)
            self._valid = False
        if self.config.pod:  # as a cleanup does (podman's removal cleans up): run --rm, rm -f of the last member
            from .pods import apply_exit_policy

            apply_exit_policy(self)

    # -- attach -------------------------------------------------------------------------
    def attach(self):
        """Connect to the container's output (and stdin): an AttachClient.

        Created or running containers only.  The lock is held just for the
        check, never for the attach's duration; any number of clients may be
        attached at once, and each gets all the output."""
        with self._locked():
            self._require(State.CREATED, State.RUNNING,
                          message="can only attach to created or running containers")
            return self._connect_attach()

    def attach_resize(self, rows: int, cols: int) -> None:
        """Set the size of a TTY container's terminal (no effect without a TTY);
        done on return (at most ATTACH_SYNC_SECONDS later: the monitor's answer).

        The process may end after the state check: its monitor then closes the
        connection (a broken pipe here), which is the state error, not a fault
        (the docker CLI's resizes come on their own requests, one may meet the exit)."""
        if not (0 < rows <= 0xFFFF and 0 < cols <= 0xFFFF):
            raise InvalidArgument(f"invalid terminal size {rows}x{cols}: rows and columns must be 1 to 65535")
        message = "can only resize created or running containers"
        with self._locked():
            self._require(State.CREATED, State.RUNNING, message=message)
            with self._attach_client("resize") as client:
                try:
                    client.resize(rows, cols)
                    client.sync(ATTACH_SYNC_SECONDS)
                except (BrokenPipeError, ConnectionResetError):
                    raise StateInvalid(message) from None

    def start_and_attach(self, recursive: bool = False, console_size: tuple[int, int] | None = None,
                         cleans_up: bool = False):
        """Start the container attached: an AttachClient connected before the
        start, so not a byte of output is lost.  `console_size` (rows, cols)
        is set on a TTY container's terminal before its process starts.
        `cleans_up`: the caller cleans up (or removes) the container after its
        exit and closes the client only then; its monitor waits for that and
        skips its exit command when nothing is left for it."""
        with self._locked():
            self._prepare_to_start(recursive)
            try:
                client = self._connect_attach()
            except BaseException:
                self.save()  # init's record: the start that would have saved it is not coming
                raise
            try:
                if cleans_up:
                    client.promise_cleanup()
                if console_size and self.config.tty:
                    client.resize(*console_size)
                # the monitor takes the client and its resize before the process starts: under
                # load it may not run again before the process writes or reads its terminal size
                client.sync(ATTACH_SYNC_SECONDS)
                lifecycle.start(self)
            except BaseException:
                client.close()
                raise
        return client

    def _connect_attach(self):
        """Connect (lock held) as the client the output is paced to (when it is
        the first to ask: see husk.engine.attach_protocol), then emit `attach`
        and fire the attach hook."""
        client = self._attach_client("attach to")
        try:
            try:
                client.pace()
            except (BrokenPipeError, ConnectionResetError):  # the process exited since the state check
                raise StateInvalid("can only attach to created or running containers") from None
            self.runtime.emit("attach", self)
            self.runtime.call_plugins("attach", self)
        except BaseException:
            client.close()
            raise
        return client

    def _attach_client(self, verb: str):
        from .attach_protocol import AttachClient

        try:
            return AttachClient.connect(self.runtime.paths.attach_socket(self.id))
        except (FileNotFoundError, ConnectionRefusedError):
            # the process exited since the state check; its monitor is closing the socket
            raise StateInvalid(f"can only {verb} created or running containers") from None

    def sync(self) -> None:
        """Ask the OCI runtime for the real state and save it when it changed."""
        with self._locked(sync=False):
            lifecycle.sync(self, ask_runtime=True)
            self.runtime.emit("sync", self)

    def batch(self, operations: Callable[["Container"], T]) -> T:
        """Run `operations(container)` under one lock hold, without re-syncing
        between the operations; call :meth:`sync` inside to refresh on demand."""
        with self._locked():
            batched = Container(self.runtime, self.config, self.state)
            batched.lock = self.lock
            batched._batched = True
            try:
                return operations(batched)
            finally:
                batched._batched = False
                self.state = batched.state

    # -- exec sessions ------------------------------------------------------------------
    def exec(self, command: list[str], *, env: list[str] = (), user: str = "", workdir: str = "",
             tty: bool = False, privileged: bool = False, stdin: "BinaryIO | None" = None,
             stdout: "BinaryIO | None" = None, stderr: "BinaryIO | None" = None,
             preserve_fds: int = 0, console_size: "tuple[int, int] | None" = None) -> int:
        """Run `command` in the running container and return its exit code.

        `stdin` is copied to the command when given (binary files; None for
        stdout/stderr discards that output).  Failing to start raises
        CommandNotFound (exit 127), CommandCannotInvoke (126) or another
        HuskError (125).  The lock is not held while the command runs."""
        process = self.exec_start(command, env=env, user=user, workdir=workdir, tty=tty,
                                  privileged=privileged, interactive=stdin is not None,
                                  preserve_fds=preserve_fds, console_size=console_size)
        return process.run(stdin, stdout, stderr)

    def exec_start(self, command: list[str], *, env: list[str] = (), user: str = "", workdir: str = "",
                   tty: bool = False, privileged: bool = False, interactive: bool = False,
                   preserve_fds: int = 0, detach: bool = False,
                   console_size: "tuple[int, int] | None" = None, launch: "ExecLaunch | None" = None
                   ) -> "ExecProcess":
        """Start `command` as a new exec session (running containers only) and
        return it: its id, an attach client connected before the command
        started (None with `detach`), and ``wait()`` for its exit code.
        `env` entries are K=V (K alone: from husk's environment); `user` is
        resolved in the container; `console_size` (rows, columns) for a TTY;
        `launch`, the session's monitor started beforehand (see
        husk.engine.exec_session.ExecLaunch; the CLI's), or None for a fresh one."""
        from . import exec_session

        exec_session.check_arguments(command, preserve_fds)
        with self._locked():
            self._require(State.RUNNING, message="can only create exec sessions on running containers")
            session, client = exec_session.start(
                self, list(command), env=list(env), user=user, workdir=workdir, tty=tty,
                privileged=privileged, interactive=interactive, preserve_fds=preserve_fds, detach=detach,
                console_size=console_size, launch=launch)
        return exec_session.ExecProcess(self, session, client)

    # -- waiting ------------------------------------------------------------------------
    def wait(self, condition=None, interval: float = DEFAULT_WAIT_INTERVAL) -> int:
        """Block until the container has exited and return its exit code; or,
        with `condition` (a State, a `wait --condition` name -- podman's:
        `created` is configured, `initialized` is created; `healthy` and
        `unhealthy`, the health check's status -- or several of them), until
        it is in one of them: the exit code when the condition met is stopped
        or exited, else -1 (as podman).

        Exits are waited for through the kernel (inotify on the exit file, a
        pidfd on the monitor); other states are re-checked when the state store
        is written or an exit file appears, and at least every `interval` seconds."""
        if condition is None:
            return self._wait_for_exit(interval)
        return self._wait_for_condition(condition, interval)

    def _wait_for_exit(self, interval: float) -> int:
        if not self._valid:
            raise ContainerRemoved(f"container {self.id} has been removed")
        from .waiting import StoreWatch

        watch = None
        try:
            while True:
                self.reload()
                if self.state.state in (State.STOPPED, State.EXITED):
                    return self.state.exit_code
                if self.state.state in (State.RUNNING, State.PAUSED, State.CREATED) and self.state.pid:
                    if not lifecycle.wait_for_exit(self, interval if self.state.state is State.CREATED else None):
                        continue
                    if not self.sync_if_unlocked():
                        self._await_recorded_exit()
                    if self.state.state in (State.STOPPED, State.EXITED):
                        return self.state.exit_code
                elif watch is None:
                    watch = StoreWatch(self.runtime.paths.state_dir)  # then check again: no lost wake-up
                else:
                    watch.wait(interval)
        finally:
            if watch is not None:
                watch.close()

    def _wait_for_condition(self, condition, interval: float) -> int:
        from .waiting import StoreWatch, parse_condition

        if not self._valid:
            raise ContainerRemoved(f"container {self.id} has been removed")
        items = [condition] if isinstance(condition, (str, State)) else list(condition)
        wanted = {item if isinstance(item, State) else parse_condition(item) for item in items}
        if not wanted:
            raise InvalidArgument("no condition to wait for")
        if wanted <= {State.STOPPED, State.EXITED}:
            return self._wait_for_exit(interval)
        if wanted & {State.STOPPED, State.EXITED}:
            wanted |= {State.STOPPED, State.EXITED}  # podman's waits treat both as "has exited"
        paths = self.runtime.paths
        with StoreWatch(paths.state_dir, paths.exits_dir, os.path.dirname(paths.events_log)) as watch:
            while True:
                self.reload()
                self.sync_if_unlocked()
                health = self.state.health
                if self.state.state in wanted or self.state.shown() in wanted or (
                        health is not None and self.state.state is State.RUNNING and health.status in wanted):
                    return self.state.exit_code if self.state.state in (State.STOPPED, State.EXITED) else -1
                watch.wait(interval)

    # -- dependencies and refresh ---------------------------------------------------------
    def _refuse_removal_of_infra(self) -> None:
        """podman's refusal to remove a pod's infra container (`pod rm` does; `rm -f` removes it anyway)."""
        from .pods import is_infra

        if is_infra(self):
            raise StateInvalid(f"container {self.id} is the infra container of pod {self.config.pod} and cannot be "
                               "removed without removing the pod", improper=False)

    def _refuse_removal_with_dependents(self) -> None:
        """podman's refusal to remove a container others depend on (`rm -f` removes it anyway)."""
        from .dependencies import dependents

        names = [self.runtime.store.container_config(cid).name for cid in dependents(self.runtime, self.id)]
        if names:
            raise StateInvalid(f"container {self.id} has dependent containers which must be removed "
                               f"before it: {', '.join(names)}", improper=False)

    def refresh(self) -> None:
        """Tear the container down to its configuration (unpause, stop, end exec
        sessions, delete it from the runtime, unmount, reset the state) and bring
        it back to created, running or paused as it was.  Emits `refresh`."""
        with self._locked():
            if self.state.state is State.REMOVING:
                raise StateInvalid("cannot refresh containers that are being removed", improper=False)
            lifecycle.refresh(self)

    # -- pause, restart, mounts, export, artifacts -------------------------------------
    def pause(self) -> None:
        """Freeze the container's processes (the cgroup freezer, through the OCI runtime)."""
        with self._locked():
            if self.state.state is State.PAUSED:
                raise StateInvalid(f'"{self.id}" is already paused')
            if self.state.state is not State.RUNNING:
                raise StateInvalid(f'"{self.state.state}" is not running, can\'t pause')
            lifecycle.pause(self)

    def unpause(self) -> None:
        with self._locked():
            if self.state.state is not State.PAUSED:
                raise StateInvalid(f'"{self.id}" is not paused, can\'t unpause')
            lifecycle.unpause(self)

    def restart(self, timeout: int | None = None) -> None:
        """Stop a running container (SIGKILL after `timeout` seconds; None: its stop
        timeout) and start it again; a created, stopped or exited one is just
        started.  Its dependencies must be running."""
        from .dependencies import check_dependencies

        timeout = self._stop_timeout(timeout)
        with self._locked():
            check_dependencies(self, recursive=False)
            self._require(State.CONFIGURED, State.CREATED, State.RUNNING, State.STOPPED, State.EXITED,
                          message="unable to restart a container in a paused or unknown state")
            lifecycle.restart(self, timeout)

    def mount(self) -> str:
        """Mount the root filesystem for the user (counted: each mount needs an
        unmount); returns the merged path."""
        with self._locked():
            if self.state.state is State.REMOVING:
                raise StateInvalid(f"cannot mount container {self.id} as it is being removed")
            return lifecycle.mount_for_user(self)

    def user_mounts(self) -> int:
        """How many mounts users hold (`husk mount`), besides the container's own."""
        return lifecycle.users_mounts(self)

    def unmount(self, force: bool = False) -> None:
        """Drop one user mount (every user mount with `force`).  The container's
        own mount stays while it is in the runtime, so unmounting the last mount
        of a running, paused, created or exec-busy container is refused."""
        with self._locked():
            if lifecycle.users_mounts(self) == 0 and self.state.mountpoint:
                if self.state.state in (State.RUNNING, State.PAUSED):
                    raise StateInvalid(f"cannot unmount storage for container {self.id} as it is running or paused")
                if self.state.exec_sessions:
                    raise StateInvalid(f"container {self.id} has active exec sessions, refusing to unmount")
                raise HuskError(f"can't unmount {self.id} last mount, it is still in use")
            lifecycle.unmount_for_user(self, force)

    def export(self, target) -> None:
        """Write the root filesystem as a tar archive to `target`: a path or a
        binary file object.  Streamed; the lock is held for the export."""
        with self._locked():
            if self.state.state is State.REMOVING:
                raise StateInvalid(f"cannot export container {self.id} as it is being removed")
            lifecycle.export(self, target)

    # -- copying files in and out (husk cp, the archive API) ----------------------------
    def _copy_state_check(self, verb: str) -> None:
        if self.state.state is State.REMOVING:
            raise StateInvalid(f"cannot {verb} container {self.id} as it is being removed")

    def _copy_location(self, merged: str, path: str) -> tuple[str, str]:
        """(root, path in it) for `path`: the rootfs or a bind mount's source."""
        from ..storage import copying
        from .spec import build_mounts

        mounts = build_mounts(self.config, self.runtime.paths.userdata(self.id))
        binds = [(m["destination"], m["source"]) for m in mounts if m["type"] == "bind"]
        return copying.locate(merged, binds, path)

    def stat_path(self, path: str):
        """The :class:`husk.storage.copying.PathStat` of `path` inside the container
        (a final symlink not followed).  :raises NoSuchPath: nothing there."""
        import posixpath

        from ..storage import copying

        with self._locked():
            self._copy_state_check("copy from")
            with lifecycle.rootfs_mounted(self) as merged:
                root, inner = self._copy_location(merged, path)
                return copying.stat_path(root, inner, posixpath.basename(posixpath.normpath("/" + path)) or "/")

    def copy_from(self, path: str, target: "BinaryIO", *, follow_link: bool = False, name: str | None = None):
        """Write `path` inside the container (all of it, for a directory) as a
        tar stream to `target`; returns its PathStat.  Works in any state but
        removing; the rootfs is mounted for the copy when it is not."""
        import posixpath

        from ..storage import copying

        with self._locked():
            self._copy_state_check("copy from")
            with lifecycle.rootfs_mounted(self) as merged:
                root, inner = self._copy_location(merged, path)
                if name is None and inner != path and not path.endswith("/."):
                    name = posixpath.basename(posixpath.normpath("/" + path))  # a file bind's own name
                return copying.write_archive(root, inner, target, follow_link=follow_link, name=name)

    def copy_to(self, path: str, stream: "BinaryIO", *, chown: bool = False,
                no_overwrite_dir_non_dir: bool = False) -> None:
        """Unpack the tar read from `stream` into the directory `path` inside
        the container (chrooted: nothing lands outside its root).

        :param chown: every member gets the uid/gid of the container's user
            (its --user, else the image's USER, else root) as resolved in the
            container; otherwise the archive's owners are kept.
        :raises NoSuchPath: the directory is missing.
        :raises InvalidArgument: a corrupt or refused archive (device nodes
            unless the container is privileged).
        """
        from ..storage import copying

        with self._locked():
            self._copy_state_check("copy to")
            with lifecycle.rootfs_mounted(self) as merged:
                owner = None
                if chown:
                    from .users import resolve_user

                    user = resolve_user(merged, self.config.user or lifecycle.image_config(self).user)
                    owner = (user.uid, user.gid)
                root, inner = self._copy_location(merged, path)
                copying.extract_archive(root, inner, stream, owner=owner,
                                        no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
                                        allow_devices=self.config.privileged)

    def add_artifact(self, name: str, data: bytes) -> None:
        """Store `data` as the container's artifact `name` (one path component)."""
        from . import artifacts

        artifacts.add(self._artifacts_dir(), name, data)

    def get_artifact(self, name: str) -> bytes:
        from . import artifacts

        return artifacts.get(self._artifacts_dir(), name)

    def remove_artifact(self, name: str) -> None:
        from . import artifacts

        artifacts.remove(self._artifacts_dir(), name)

    def _artifacts_dir(self) -> str:
        """Artifacts need no lock (each file is replaced atomically), only a container."""
        if not self._valid or not self.runtime.container_exists(self.id):
            raise ContainerRemoved(f"container {self.id} has been removed")
        return self.runtime.paths.artifacts(self.id)

    # -- checkpoint / restore (the work is the husk-criu plugin's) ------------------------
    def checkpoint(self, options: dict | None = None) -> None:
        """Checkpoint the running container with the checkpoint plugin (podman's
        ContainerCheckpointOptions as a dict: keep, keep_running, tcp_established,
        target_file, ignore_rootfs, compression, print_stats, file_locks).
        Without keep_running the process is gone afterwards and the container is
        `exited` with a checkpoint to restore.  Emits `checkpoint`."""
        options = {} if options is None else options
        _refuse_rootless("checkpointing")
        with self._locked():
            if self.state.state is not State.RUNNING:
                raise StateInvalid(f'"{self.state.state}" is not running, cannot checkpoint')
            if self.config.auto_remove and not options.get("target_file"):
                raise InvalidArgument("cannot checkpoint containers that have been started with '--rm' unless "
                                      "'--export' is used")
            lifecycle.checkpoint(self, options)
            if self.config.auto_remove and not options.get("keep_running"):  # exported: gone on return, as podman
                lifecycle.remove(self, timeout=0, volumes=True)
                self._valid = False

    def restore(self, options: dict | None = None) -> None:
        """Restore a checkpointed, exited container: the plugin runs the runtime's
        restore under a new monitor, which adopts the process as it adopts a
        started one.  Options: keep, tcp_established, ignore_rootfs, file_locks.
        Emits `restore`."""
        options = {} if options is None else options
        _refuse_rootless("restoring")
        with self._locked():
            if self.state.state in (State.RUNNING, State.PAUSED):
                raise StateInvalid(f"container {self.id} is running or paused, cannot restore")
            if not self.state.restorable():
                raise StateInvalid("a complete checkpoint for this container cannot be found, cannot restore",
                                   improper=False)
            lifecycle.restore(self, options)

    # -- rename, top, update -------------------------------------------------------------
    def rename(self, new_name: str) -> None:
        """Give the container a new name, in any state but being removed.  The
        name must be valid and free; it is claimed in the store transaction
        that frees the old one, so of two renames to one name exactly one
        wins (the other gets NameInUse).  Emits `rename`."""
        from .names import check_name

        check_name(new_name)
        with self._locked():
            if self.state.state is State.REMOVING:
                raise StateInvalid(f"cannot rename container {self.id} as it is being removed")
            old_name = self.config.name
            if new_name == old_name:
                raise InvalidArgument(f"renaming a container with the same name as its current name: {new_name}")
            config = msgspec.structs.replace(self.config, name=new_name)
            self.runtime.store.rewrite_config(config, old_name=old_name)
            self.config = config
            self.runtime.emit("rename", self, oldName=old_name)

    def top(self, descriptors: "list[str] | tuple[str, ...] | None" = None) -> "tuple[list[str], list[list[str]]]":
        """The container's processes as (titles, rows of strings), one row per
        process in its cgroup (exec sessions too).  `descriptors`: podman's
        format descriptors (`pid`, `user`, `args`, ... see :mod:`husk.engine.top`)
        or ps(1)'s `-ef`, `aux`, `-o LIST`; none: podman's default columns.
        Running (or paused) containers only."""
        from . import top

        top.columns(descriptors)  # a bad descriptor is refused whatever the state
        with self._locked():
            self._require(State.RUNNING, State.PAUSED, message="can only top running containers")
            pid, rootfs = self.state.pid, self.state.mountpoint
        return top.processes(pid, rootfs, descriptors)

    def update(self, *, memory: "str | int | None" = None, cpus: "str | float | None" = None,
               nano_cpus: int | None = None, cpu_shares: int | None = None, pids_limit: int | None = None,
               restart_policy: str | None = None, finer: dict | None = None) -> None:
        """Change the resource limits and/or the restart policy; None leaves a
        value as it is (values as :func:`husk.engine.resources.limits` takes them;
        `finer`: an OCI linux.resources fragment of the run/create flags such as
        --cpu-period, merged into the container's, see :func:`husk.engine.run_options.parse_resources`).
        A container in the runtime (created, running, paused) gets the new
        limits at once, through the OCI runtime's `update`; the record keeps
        them, so every later start has them.  Emits `update`."""
        from . import resources
        from .restart import parse_restart_policy

        policy = parse_restart_policy(restart_policy) if restart_policy is not None else None
        with self._locked():
            if self.state.state is State.REMOVING:
                raise StateInvalid(f"cannot update container {self.id} as it is being removed")
            limits = resources.limits(self.config.resources, memory=memory, cpus=cpus, nano_cpus=nano_cpus,
                                      cpu_shares=cpu_shares, pids_limit=pids_limit)
            if policy is not None and policy.name != "no" and self.config.auto_remove:
                raise InvalidArgument('the --rm option conflicts with --restart, when the restartPolicy is not "" '
                                      'and "no"')
            config = msgspec.structs.replace(self.config, resources=limits,
                                             restart_policy=policy or self.config.restart_policy)
            if finer:
                from .run_options import merged

                config.run_options = msgspec.structs.replace(
                    config.run_options, resources=merged(config.run_options.resources, finer))
            lifecycle.update(self, config)

    # -- reading ------------------------------------------------------------------------
    def sync_if_unlocked(self, files: "lifecycle.RunRootFiles | None" = None) -> bool:
        """For readers (ps, logs), which never wait for a lock: repair a stale
        record when the lock is free; otherwise show what the exit file says.
        False when the record is stale and someone else holds the lock.  (A
        listing passes one lifecycle.RunRootListing for all its containers.)"""
        if not lifecycle.looks_stale(self, files):
            return True
        if self.lock.acquire(blocking=False):
            try:
                self.reload()
                lifecycle.sync(self)
            finally:
                self.lock.release()
            return True
        exit_info = lifecycle.read_exit_file(self)
        if exit_info is not None and self.state.state in (State.CREATED, State.RUNNING, State.PAUSED):
            self.state.state = State.STOPPED
            self.state.exit_code, self.state.finished_at = exit_info
        return False

    def _await_recorded_exit(self) -> None:
        """wait() returns once the store holds the exit: while the lock's holder
        (the exit command's cleanup, a stop) is recording it, a fresh lookup
        right after wait() would still read `running`. So wait for that holder,
        then read the record (kept as the exit file said if it is gone: --rm)."""
        self.lock.acquire()
        try:
            self.reload()
            lifecycle.sync(self)
        except NoSuchContainer:  # removed meanwhile: drop the lock file this may have made again
            with contextlib.suppress(OSError):
                os.unlink(self.lock.path)
        finally:
            self.lock.release()

    def inspect(self) -> dict:
        """podman's inspect document for this container."""
        from .inspect import inspect_container

        return inspect_container(self)


def _refuse_rootless(doing: str) -> None:
    """CRIU needs root: podman refuses a rootless checkpoint or restore with these words."""
    from .config import is_rootless

    if is_rootless():
        raise HuskError(f"{doing} a container requires root")


def restore_imported(runtime: "Runtime", options: dict) -> Container:
    """Restore from an exported checkpoint archive (``options["target_file"]``,
    "-" for stdin) as a new container: the plugin unpacks the untrusted archive
    into a new, exited, checkpointed container (its old id and name, or a new
    id and ``options["name"]``), then it is restored like any other.  If
    anything fails, no part of the new container remains."""
    _refuse_rootless("restoring")
    container = runtime.feature_plugins("restore").restore(None, {**options, "runtime": runtime})
    try:
        imported = {**options, "target_file": ""}
        container.restore(imported)
        options["stats"] = imported.get("stats")
    except BaseException:
        container.remove(force=True, timeout=0)
        raise
    return container
