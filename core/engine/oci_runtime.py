"""The runtime interface: the OCI command-line runtimes (runc, crun, runsc, kata).

They all speak the same CLI (`create`, `start`, `state`, `kill`, `delete`,
`pause`, `resume`, `exec`, `update`), so this base class does the common work and a
plugin subclass adds only what differs (global flags, feature probes).  The
class holds no state logic: it runs a command and reports what the runtime said.
Every runtime command goes through :meth:`OCIRuntime.run`, the one path for it.
json is imported where a command's input or output is JSON, not here: pause,
unpause and stop need none of it (~1 ms of their start-up).
"""

from __future__ import annotations

import math
import os
import select
import time
from typing import Any

from ..define import CommandCannotInvoke, CommandNotFound, NoSuchContainer, RuntimeFailure, inheritable_fds


class OCIRuntime:
    """Base of every OCI-CLI backend.  Subclasses set :attr:`name` and :attr:`binary`."""

    #: what users pass to --runtime
    name = ""
    #: executable name (looked up in PATH) or absolute path
    binary = ""
    #: whether the runtime can checkpoint with CRIU (probed by the plugin)
    supports_checkpoint = False
    #: the file that says an image directory holds this runtime's checkpoint (CRIU's index)
    checkpoint_image = "inventory.img"
    #: whether its checkpoint images hold the container's id (no restore under another: import --name)
    checkpoint_keeps_id = False
    #: whether a checkpoint that stops the container also removes it from the runtime (no `delete` after it)
    checkpoint_deletes = False
    #: `--FLAG`s from the user (--runtime-flag), after the backend's own global flags
    extra_flags: list[str] = []

    def __init__(self, state_root: str) -> None:
        """:param state_root: the runtime's own --root, under husk's run root,
        so that two husk run roots (test workers, users) never share runtime state."""
        self.state_root = state_root
        self.path = which(self.binary) or self.binary

    # -- what differs between runtimes -------------------------------------------------
    def global_args(self) -> list[str]:
        """Flags placed before the subcommand.  runc and crun both take --root."""
        return ["--root", self.state_root]

    def version(self) -> str:
        """The runtime's version line, for `husk info` and inspect."""
        import subprocess

        try:
            out = subprocess.run([self.path, "--version"], capture_output=True, text=True, timeout=10)
        except OSError as exc:
            return f"unavailable ({exc.strerror})"
        return out.stdout.splitlines()[0] if out.stdout else "unknown"

    # -- the one path that runs a runtime command ----------------------------------------
    def command(self, *args: str) -> list[str]:
        """The argv for a runtime subcommand (the monitor runs `create` itself)."""
        return [self.path, *self.global_args(), *self.extra_flags, *args]

    def run(self, *args: str, container_id: str = "", timeout: float | None = 60, input: str | None = None) -> str:
        """Run a subcommand (`input` on its stdin); return its stdout.  Errors
        become husk errors with the runtime's own last line of stderr."""
        try:
            code, stdout, stderr = _capture(self.command(*args), input, timeout)
        except FileNotFoundError:
            raise RuntimeFailure(f"OCI runtime {self.name!r} not found at {self.path}") from None
        except TimeoutError:
            raise RuntimeFailure(f"{self.name} {args[0]} timed out after {timeout} s") from None
        if code != 0:
            raise self.error_from(stderr, container_id)
        return stdout

    def error_from(self, stderr: str, container_id: str = "") -> Exception:
        """Turn a runtime's stderr into the husk error a user should see."""
        message = _last_message(stderr) or f"{self.name} failed"
        lower = message.lower()
        if container_id and ("does not exist" in lower or "not found" in lower and "container" in lower):
            return NoSuchContainer(f"{self.name}: container {container_id} does not exist in the runtime")
        return error_for_message(f"{self.name}: {message}")

    def features(self) -> dict[str, Any]:
        """What the runtime supports (`features`, else `--version`), cached by
        the binary's path and mtime in its state directory (see husk.engine.runtime_features)."""
        from .runtime_features import probe

        return probe(self.path, self.state_root)

    def check_bundle(self, bundle: str) -> None:
        """Refuse, before anything is created, a bundle's spec that needs what
        the runtime's features say it lacks (a namespace, a hook stage)."""
        from .runtime_features import check_spec

        import json

        with open(os.path.join(bundle, "config.json")) as handle:
            check_spec(self.features(), json.load(handle), self.name)

    # -- lifecycle commands --------------------------------------------------------------
    def prepare_spec(self, container_id: str, spec: dict[str, Any]) -> None:
        """The backend's say in a create's spec, before the core writes the
        bundle (after the pre_init hooks): refuse what the runtime's features
        say it lacks (a namespace, a hook stage), and add what the runtime
        takes beside the spec (crun: a cached seccomp filter in an annotation).
        It is given the dict the core writes, so that nothing reads and
        rewrites config.json after it."""
        from .runtime_features import check_spec

        check_spec(self.features(), spec, self.name)

    def create_command(self, container_id: str, bundle: str, pid_file: str, log_file: str) -> list[str]:
        """The argv the monitor runs to create the container (it owns the stdio),
        from the bundle :meth:`prepare_spec` had its say in.
        The runtime's own messages go to `log_file` as JSON lines."""
        return self.command("--log", log_file, "--log-format", "json", "create",
                            "--bundle", bundle, "--pid-file", pid_file, container_id)

    def exec_command(self, container_id: str, process_file: str, pid_file: str, log_file: str,
                     preserve_fds: int = 0) -> list[str]:
        """The argv an exec session's monitor runs: the process (an OCI process
        object in `process_file`) starts detached, as the monitor's child."""
        extra = ["--preserve-fds", str(preserve_fds)] if preserve_fds else []
        return self.command("--log", log_file, "--log-format", "json", "exec", "--detach",
                            "--pid-file", pid_file, "--process", process_file, *extra, container_id)

    def checkpoint(self, container_id: str, image_path: str, work_path: str, flags: list[str]) -> None:
        """Dump the container with CRIU into `image_path` (CRIU's logs in
        `work_path`); `flags`: --leave-running, --tcp-established, --file-locks."""
        self.run("checkpoint", "--image-path", image_path, "--work-path", work_path, *flags, container_id,
                 container_id=container_id, timeout=None)

    def restore_command(self, container_id: str, bundle: str, image_path: str, pid_file: str, log_file: str,
                        flags: list[str]) -> list[str]:
        """The argv a monitor runs in place of create to restore a checkpoint
        (detached: the restored init is the monitor's, as after create)."""
        return self.command("--log", log_file, "--log-format", "json", "restore", "--detach",
                            "--image-path", image_path, "--work-path", bundle, "--bundle", bundle,
                            "--pid-file", pid_file, *flags, container_id)

    def start(self, container_id: str) -> None:
        self.run("start", container_id, container_id=container_id)

    def kill(self, container_id: str, signal: int, all_processes: bool = False) -> None:
        args = ["kill"] + (["--all"] if all_processes else []) + [container_id, str(signal)]
        self.run(*args, container_id=container_id)

    def delete(self, container_id: str, force: bool = False) -> None:
        """Delete the container from the runtime; a container it does not know is fine."""
        try:
            self.run("delete", *(["--force"] if force else []), container_id, container_id=container_id)
        except NoSuchContainer:
            pass

    def pause(self, container_id: str) -> None:
        self.run("pause", container_id, container_id=container_id)

    def resume(self, container_id: str) -> None:
        self.run("resume", container_id, container_id=container_id)

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """Change the live cgroup limits (an OCI LinuxResources document; runc
        and crun both read it from stdin with `update --resources -`)."""
        import json

        self.run("update", "--resources", "-", container_id, container_id=container_id, input=json.dumps(resources))

    def state(self, container_id: str) -> dict[str, Any] | None:
        """The runtime's `state` of the container, or None when it does not know it."""
        try:
            out = self.run("state", container_id, container_id=container_id, timeout=30)
        except NoSuchContainer:
            return None
        except RuntimeFailure as exc:
            # runc 1.1 says "container does not exist"; be tolerant of other wordings.
            if "not exist" in str(exc) or "no such" in str(exc).lower():
                return None
            raise
        import json

        return json.loads(out)

    def describe(self) -> dict[str, Any]:
        """What `husk info` shows about this backend."""
        return {"Name": self.name, "Path": self.path, "Version": self.version(),
                "Checkpoint": self.supports_checkpoint, "Features": self.features()}


def _capture(argv: list[str], input: str | None, timeout: float | None) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ARGV fed INPUT, within TIMEOUT seconds.

    subprocess.run with a timeout waits for the exit by polling, with sleeps
    of 1 ms and more (2-3 ms of every runtime command on a loaded host, pause
    and unpause included); here the output and a pidfd of the process are
    polled under one deadline, so the exit is seen the moment it happens.  The
    input is written as the pipe takes it, in the same poll: written whole
    first, an input larger than the pipe would block while the command blocks
    on its full output pipe.  A timeout or Ctrl-C kills the command and reaps it.

    The command is started by os.posix_spawnp (a vfork and exec, as Popen's),
    not subprocess, whose import with selectors' is ~1.2 ms of every pause,
    unpause, stop and start.  What Popen would do is done here: stdin is
    /dev/null or a pipe, stdout and stderr pipes, no other descriptor of ours
    is inherited (close_fds: LMDB's data file is inheritable), and SIGPIPE and
    SIGXFSZ are back at their defaults (restore_signals: Python ignores SIGPIPE)."""
    import signal

    fds: set[int] = set()  # ours, all closed on the way out
    try:
        if input is None:
            child_stdin, stdin = _above_stdio(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)), -1
            fds.add(child_stdin)
        else:
            child_stdin, stdin = (_above_stdio(fd) for fd in os.pipe())
            fds.update((child_stdin, stdin))
        stdout, child_stdout = (_above_stdio(fd) for fd in os.pipe())
        fds.update((stdout, child_stdout))
        stderr, child_stderr = (_above_stdio(fd) for fd in os.pipe())
        fds.update((stderr, child_stderr))
        actions = [(os.POSIX_SPAWN_DUP2, child_stdin, 0), (os.POSIX_SPAWN_DUP2, child_stdout, 1),
                   (os.POSIX_SPAWN_DUP2, child_stderr, 2), *((os.POSIX_SPAWN_CLOSE, fd) for fd in inheritable_fds())]
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions,
                              setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
        for fd in (child_stdin, child_stdout, child_stderr):
            os.close(fd)
            fds.discard(fd)
        try:
            output = _exchange(pid, stdin, stdout, stderr, fds, memoryview(input.encode() if input else b""),
                               timeout)
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    finally:
        for fd in fds:
            os.close(fd)
    return code, *(b"".join(chunks).decode(errors="replace") for chunks in output)


def _above_stdio(fd: int) -> int:
    """`fd`, or a close-on-exec copy of it above 2 when it is one of 0-2 (a
    caller started with its stdio closed): the child's stdio is dup2'd from these."""
    if fd > 2:
        return fd
    import fcntl

    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    finally:
        os.close(fd)


def _exchange(pid: int, stdin: int, stdout: int, stderr: int, fds: set[int], data: memoryview,
              timeout: float | None) -> tuple[list[bytes], list[bytes]]:
    """Feed `data` to the process's `stdin` (when it has one, -1 if not; closed
    and taken out of `fds` once written) and read its `stdout` and `stderr`
    until both end and it has exited; TimeoutError after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    output: dict[int, list[bytes]] = {stdout: [], stderr: []}
    poller = select.poll()
    if stdin != -1:
        os.set_blocking(stdin, False)
        poller.register(stdin, select.POLLOUT)
    pidfd = os.pidfd_open(pid)
    try:
        pending = {*output, pidfd}
        for fd in pending:
            poller.register(fd, select.POLLIN)
        while pending:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError
            for fd, _ in poller.poll(None if remaining is None else math.ceil(remaining * 1000)):
                if fd == stdin:
                    try:
                        data = data[os.write(fd, data[:65536]):]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # it exited without reading: its status says why
                        data = data[:0]
                    if not data:
                        poller.unregister(fd)
                        os.close(fd)
                        fds.discard(fd)
                        stdin = -1
                    continue
                chunk = os.read(fd, 65536) if fd in output else b""
                if chunk:
                    output[fd].append(chunk)
                else:  # end of an output, or the pidfd says the process has exited
                    poller.unregister(fd)
                    pending.discard(fd)
    finally:
        os.close(pidfd)
    return output[stdout], output[stderr]


def error_for_message(message: str) -> RuntimeFailure:
    """The error for a runtime's message about the container's command: 127 when
    the executable is missing, 126 when it cannot be run, else 125.  runc and crun
    word these differently ("no such file or directory", "executable file not
    found", "permission denied", crun's "open executable: Operation not permitted")."""
    lower = message.lower()
    if "no such file or directory" in lower or "not found" in lower:
        return CommandNotFound(f"{message}: OCI runtime attempted to invoke a command that was not found")
    if "permission denied" in lower or "operation not permitted" in lower or "is a directory" in lower:
        return CommandCannotInvoke(f"{message}: OCI permission denied")
    return RuntimeFailure(message)


def _last_message(stderr: str) -> str:
    """The useful part of a runtime's error output.

    runc logs JSON-ish `level=error msg="..."` lines; crun prints `crun: ...`.
    Keep the last non-empty line and strip the logging decoration.
    """
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    if line.startswith("{"):
        import json

        try:
            line = json.loads(line).get("msg", line)
        except ValueError:
            pass
    marker = 'msg="'
    if marker in line:
        line = line.split(marker, 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    for prefix in ("crun: ", "runc: ", "Error: ", "ERRO[0000] "):
        if line.startswith(prefix):
            line = line[len(prefix):]
    return line


def probe_binary(binary: str) -> bool:
    """Whether `binary` is installed; plugins use it to skip registering absent runtimes."""
    return which(binary) is not None or os.path.isabs(binary) and os.access(binary, os.X_OK)


def which(binary: str) -> str | None:
    """The executable file `binary` names: itself when it holds a slash, else
    the first on PATH (shutil.which's answer for these names).  Not shutil's
    own: importing shutil loads bz2 and lzma, 1-1.5 ms of every command that
    calls a runtime (pause, unpause, stop, start)."""
    if os.sep in binary:
        candidates = [binary]
    else:
        candidates = [os.path.join(directory, binary)
                      for directory in os.environ.get("PATH", os.defpath).split(os.pathsep) if directory]
    for candidate in candidates:
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None
