"""The public Container API (podman's Container): thin by design.

Each method takes the container's lock (unless inside :meth:`Container.batch`),
re-reads and syncs the state, checks that the operation is allowed in that
state (with the seed's messages), and calls the internal step in
:mod:`husk.lifecycle`, which does the work and emits the event.  Programs use
these methods; the CLI and the API service are thin layers over them.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Callable, Iterator, TypeVar

from . import lifecycle
from .define import AlreadyStopped, ContainerRemoved, State, StateInvalid
from .lock import FileLock
from .records import ContainerConfig, ContainerState

if TYPE_CHECKING:
    from typing import BinaryIO

    from .exec_session import ExecProcess
    from .runtime import Runtime

T = TypeVar("T")
DEFAULT_WAIT_INTERVAL = 0.25


class Container:
    def __init__(self, runtime: "Runtime", config: ContainerConfig, state: ContainerState) -> None:
        self.runtime = runtime
        self.config = config
        self.state = state
        self.lock = FileLock(runtime.paths.lock_path(config.id))
        self._batched = False
        self._valid = True

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
        """Re-read the state from the store (raises NoSuchContainer once removed)."""
        self.state = self.runtime.store.container_state(self.id)

    def save(self) -> None:
        self.runtime.store.save_state(self.id, self.state)

    def _require(self, *states: State, message: str) -> None:
        if self.state.state not in states:
            raise StateInvalid(f"{message}: container state improper")

    # -- lifecycle ----------------------------------------------------------------------
    def init(self) -> None:
        """Create the container in the OCI runtime (state `created`), without starting it."""
        with self._locked():
            self._require(State.CONFIGURED, State.STOPPED, State.EXITED,
                          message=f"container {self.id} has already been created in runtime")
            lifecycle.init(self)

    def start(self, recursive: bool = False) -> None:
        """Start the container, initialising it first when needed."""
        with self._locked():
            lifecycle.prepare_to_start(self, recursive)
            lifecycle.start(self)

    def stop(self) -> None:
        """Stop with the container's own stop timeout."""
        self.stop_with_timeout(self.config.stop_timeout)

    def stop_with_timeout(self, timeout: int) -> None:
        """The stop signal, then SIGKILL after `timeout` seconds (0: SIGKILL at once)."""
        with self._locked():
            if self.state.state in (State.STOPPED, State.EXITED):
                raise AlreadyStopped()
            self._require(State.CREATED, State.RUNNING, message=(
                f"can only stop created or running containers. {self.id} is in state {self.state.state}"))
            lifecycle.stop(self, timeout)
            lifecycle.cleanup(self)

    def kill(self, signal: int) -> None:
        """Send `signal` to the container's process; marks the container stopped by the user."""
        with self._locked():
            self._require(State.RUNNING, message=(
                f"can only kill running containers. {self.id} is in state {self.state.state}"))
            lifecycle.kill(self, signal)

    def cleanup(self) -> None:
        """Release what a stopped container holds (runtime state, rootfs mount);
        removes it when it was created with --rm.  Run by the monitor on exit."""
        with self._locked():
            self._require(State.CONFIGURED, State.CREATED, State.STOPPED, State.EXITED,
                          message=f"container {self.id} is running or paused, refusing to clean up")
            lifecycle.cleanup(self)
            if self.config.auto_remove:
                lifecycle.remove(self, force=True, timeout=0)
                self._valid = False

    def remove(self, force: bool = False, timeout: int | None = None) -> None:
        """Remove the container; running or paused ones only with `force` (stopped first)."""
        if self._batched:
            raise StateInvalid("a container cannot be removed inside a batch")
        with self._locked():
            lifecycle.remove(self, force, self.config.stop_timeout if timeout is None else timeout)
            self._valid = False

    def attach(self):
        """Connect to the container's output (and stdin): an AttachClient.

        Created or running containers only.  The lock is held just for the
        check, never for the attach's duration."""
        from .attach_protocol import AttachClient

        with self._locked():
            self._require(State.CREATED, State.RUNNING,
                          message="can only attach to created or running containers")
            client = AttachClient.connect(self.runtime.paths.attach_socket(self.id))
            self.runtime.emit("attach", self)
            self.runtime.plugins.attach(self)
        return client

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
                   console_size: "tuple[int, int] | None" = None) -> "ExecProcess":
        """Start `command` as a new exec session (running containers only) and
        return it: its id, an attach client connected before the command
        started (None with `detach`), and ``wait()`` for its exit code.
        `env` entries are K=V (K alone: from husk's environment); `user` is
        resolved in the container; `console_size` (rows, columns) for a TTY."""
        from . import exec_session

        exec_session.check_arguments(command, preserve_fds)
        with self._locked():
            self._require(State.RUNNING, message="cannot exec into container that is not running")
            session, client = exec_session.start(
                self, list(command), env=list(env), user=user, workdir=workdir, tty=tty,
                privileged=privileged, interactive=interactive, preserve_fds=preserve_fds, detach=detach,
                console_size=console_size)
        return exec_session.ExecProcess(self, session, client)

    # -- waiting ------------------------------------------------------------------------
    def wait(self) -> int:
        """Block until the container has exited; return its exit code."""
        return self.wait_with_interval(DEFAULT_WAIT_INTERVAL)

    def wait_with_interval(self, interval: float) -> int:
        """Like :meth:`wait`; `interval` bounds how long a container that has not
        been started yet is left between checks.  A started container is waited
        for through the kernel (pidfd), not by polling."""
        if not self._valid:
            raise ContainerRemoved(f"container {self.id} has been removed")
        while True:
            self.reload()
            if self.state.state in (State.STOPPED, State.EXITED):
                return self.state.exit_code
            if self.state.state in (State.RUNNING, State.PAUSED, State.CREATED) and self.state.pid:
                lifecycle.wait_for_exit(self, interval if self.state.state is State.CREATED else None)
                self.sync_if_unlocked()
                if self.state.state in (State.STOPPED, State.EXITED):
                    return self.state.exit_code
            else:
                time.sleep(interval)

    # -- reading ------------------------------------------------------------------------
    def sync_if_unlocked(self) -> None:
        """For readers (ps, logs), which never wait for a lock: repair a stale
        record when the lock is free; otherwise show what the exit file says."""
        if not lifecycle.looks_stale(self):
            return
        if self.lock.acquire(blocking=False):
            try:
                self.reload()
                lifecycle.sync(self)
            finally:
                self.lock.release()
            return
        exit_info = lifecycle.read_exit_file(self)
        if exit_info is not None and self.state.state in (State.CREATED, State.RUNNING, State.PAUSED):
            self.state.state = State.STOPPED
            self.state.exit_code, self.state.finished_at = exit_info

    def inspect(self) -> dict:
        """podman's inspect document for this container."""
        from .inspect import inspect_container

        return inspect_container(self)
