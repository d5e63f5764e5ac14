"""States, error types and exit codes: the vocabulary every part of husk shares.

This module imports nothing of husk, so anything (the CLI, the API service, the
monitor's exit command, plugins) can import it without pulling in the engine.
Each error class carries the CLI exit code and the HTTP status it maps to, so
the CLI and the API service never keep tables of their own.
"""

from __future__ import annotations

import enum


class State(str, enum.Enum):
    """A container's state.  The value is what the store records; ``str()`` is
    what users see, as podman 4 names them: `configured` shows as "created"
    (Docker's word for a container that never ran) and `created` (in the
    runtime, not started) as "initialized"."""

    CONFIGURED = "configured"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    EXITED = "exited"
    REMOVING = "removing"

    def __str__(self) -> str:
        return {"configured": "created", "created": "initialized"}.get(self.value, self.value)


#: the CLI's setup of the "husk" logger (husk.cli.global_flags.configure_logging), run by
#: :func:`logger` at the first use: most commands never warn, and `logging` is about 15 M
#: instructions of the 270 M an `inspect` costs
_log_setup = None


def logger(name: str = "husk"):
    """The logger `name` (a child of "husk"), with the CLI's handler and level in place:
    every warning husk prints goes through here (``logger().warning(...)``)."""
    global _log_setup
    import logging

    if _log_setup is not None:
        setup, _log_setup = _log_setup, None
        setup()
    return logging.getLogger(name)


#: States in which the container exists in the OCI runtime.
IN_RUNTIME = frozenset({State.CREATED, State.RUNNING, State.PAUSED, State.STOPPED})

# Exit codes of the CLI, as podman's (and chroot's / env's) conventions have them.
EXIT_ENGINE = 125  # husk itself failed
EXIT_CANNOT_INVOKE = 126  # the command exists but could not be run
EXIT_NOT_FOUND = 127  # the command does not exist in the container

DEFAULT_STOP_TIMEOUT = 10
DEFAULT_STOP_SIGNAL = "SIGTERM"
DEFAULT_PIDS_LIMIT = 2048  # podman's default --pids-limit
DEFAULT_IMAGE = "localhost/busybox:latest"
#: files every husk on the host shares, whatever its run root (the netavark
#: lock, the runsc platform cache): created 0700 by root in /run, where no one
#: else can make it first; not in the default run root /run/husk, which is one
#: installation's and another run root never sees (see docs/security.md)
HOST_DIR = "/run/husk-host"


class HuskError(Exception):
    """Base of every error husk reports to a user: one line, an exit code, an HTTP status."""

    exit_code = EXIT_ENGINE
    http_status = 500

    def __init__(self, message: str = "", *, exit_code: int | None = None) -> None:
        super().__init__(message or self.default_message)
        if exit_code is not None:
            self.exit_code = exit_code

    default_message = "internal error"


class StateInvalid(HuskError):
    """The operation is not allowed in the container's current state.

    A message gets podman's ": container state improper" appended here (its
    ErrCtrStateInvalid wraps every such error); ``improper=False`` keeps a
    message as it is (Docker's own wording in the API, dependency errors)."""

    http_status = 409
    default_message = "container state improper"

    def __init__(self, message: str = "", *, exit_code: int | None = None, improper: bool = True) -> None:
        if message and improper:
            message += ": " + StateInvalid.default_message
        super().__init__(message, exit_code=exit_code)


class AlreadyStopped(StateInvalid):
    default_message = "container already stopped"
    http_status = 304


class AlreadyRunning(StateInvalid):
    default_message = "container already running"
    http_status = 304


class NoSuchContainer(HuskError):
    http_status = 404
    default_message = "no such container"

    @classmethod
    def named(cls, name_or_id: str) -> "NoSuchContainer":
        return cls(f'no container with name or ID "{name_or_id}" found: no such container')


class NoSuchImage(HuskError):
    http_status = 404
    default_message = "no such image"

    @classmethod
    def named(cls, name: str) -> "NoSuchImage":
        return cls(f"{name}: image not known")


class NoSuchExecSession(HuskError):
    http_status = 404
    default_message = "no such exec session"


class NameInUse(HuskError):
    http_status = 409
    default_message = "name is in use"


class ImageInUse(HuskError):
    http_status = 409
    default_message = "image is in use by a container"


class ContainerRemoved(HuskError):
    http_status = 404
    default_message = "container has already been removed"


class InvalidArgument(HuskError):
    """Bad user input: a flag value, a name, a template."""

    http_status = 400
    default_message = "invalid argument"


class RuntimeFailure(HuskError):
    """The OCI runtime (runc, crun, ...) reported an error."""

    default_message = "OCI runtime error"


class CommandNotFound(RuntimeFailure):
    exit_code = EXIT_NOT_FOUND
    default_message = "executable file not found"


class CommandCannotInvoke(RuntimeFailure):
    exit_code = EXIT_CANNOT_INVOKE
    default_message = "permission denied"


class PluginFailure(HuskError):
    """A plugin's hook raised; the message names the plugin."""

    default_message = "a plugin failed"


class CorruptRecord(HuskError):
    """A record in the state store failed validation (`container_id` names whose)."""

    default_message = "corrupt record in the state store"
    container_id = ""


class NotImplementedByPlugin(HuskError):
    """No installed plugin provides the feature (e.g. checkpointing)."""

    default_message = "no plugin provides this feature"


class StoreBusy(HuskError):
    default_message = "the state store is busy"


class ContainerRunning(HuskError):
    """Removal of a running container without force; podman exits 2 here."""

    exit_code = 2
    http_status = 409


class NoSuchPath(HuskError):
    """A path missing inside a container (`husk cp`, the archive API)."""

    http_status = 404
    default_message = "no such file or directory"


class NoSuchNetwork(HuskError):
    """A network name or id that no network has (podman: "network not found")."""
    http_status = 404


class NetworkExists(HuskError):
    http_status = 409


class NetworkInUse(HuskError):
    http_status = 409


class NoSuchVolume(HuskError):
    """`volume rm` exits 1 here, as podman does; `inspect` and the rest 125."""

    http_status = 404
    default_message = "no such volume"

    @classmethod
    def named(cls, name: str) -> "NoSuchVolume":
        return cls(f'no volume with name "{name}" found: no such volume')


class VolumeExists(HuskError):
    http_status = 409
    default_message = "volume already exists"


class VolumeInUse(HuskError):
    """Removing a volume a container uses, without force; podman exits 2 here."""

    exit_code = 2
    http_status = 409
    default_message = "volume is being used"


class NoSuchSecret(HuskError):
    http_status = 404
    default_message = "no such secret"

    @classmethod
    def named(cls, name: str) -> "NoSuchSecret":
        return cls(f'no secret with name or id "{name}": no such secret')


class NoSuchPod(HuskError):
    http_status = 404
    default_message = "no such pod"

    @classmethod
    def named(cls, name_or_id: str) -> "NoSuchPod":
        return cls(f'no pod with name or ID {name_or_id} found: no such pod')


def inheritable_fds() -> list[int]:
    """Our descriptors above stdio that an exec would pass on: the close list
    of a posix_spawn (what Popen's close_fds does), so that a child never holds
    the store's data file or a caller's pipe."""
    import os

    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd > 2 and os.get_inheritable(fd):
                found.append(fd)
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return found
