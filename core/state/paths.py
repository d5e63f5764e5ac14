"""Where husk keeps things: one place that names every path, so no module builds
paths by hand.  The storage root survives reboots; the run root (a tmpfs in
production) does not, and its `alive` marker is how husk notices a reboot.

Every id a path is built from must be a digest (a layer: ``sha256:`` and 64
hex digits; a container or exec session: 64 hex digits), whoever supplied it:
an archive or a request can never name a path outside the store.  Both roots
are private (0700): a container's rootfs holds whatever its root user put
there (a setuid binary), so no other host user may reach it.
"""

from __future__ import annotations

import os
import re

from ..define import InvalidArgument

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_ID = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")  # a volume driver's


def check_digest(value: str, what: str = "digest") -> str:
    """`value` when it is ``sha256:`` and 64 lowercase hex digits, else InvalidArgument."""
    if not isinstance(value, str) or not _DIGEST.fullmatch(value):
        raise InvalidArgument(f"invalid {what} {str(value)!r}: expected sha256: and 64 lowercase hex digits")
    return value


def is_id(value: str) -> bool:
    """Whether `value` is an id: 64 lowercase hex digits (a container's, an image's without its
    `sha256:`, a layer directory's name).  The one test: every other check of an id is this one."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _check_id(value: str, what: str) -> str:
    if not is_id(value):
        raise InvalidArgument(f"invalid {what} {value!r}: expected 64 lowercase hex digits")
    return value


def make_private_dirs(path: str) -> None:
    """`mkdir -p` with every directory it creates 0700 (os.makedirs gives the
    parents it creates 0777 less the umask)."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent != path:
        make_private_dirs(parent)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass


class Paths:
    def __init__(self, root: str, runroot: str) -> None:
        self.root = os.path.abspath(root)
        self.runroot = os.path.abspath(runroot)

    def make_private(self) -> None:
        """Create the roots and their shared top directories 0700, and take group
        and other bits off them where an older husk (or a umask) left them open.

        Called once per store open: a few stat calls, no walk of the tree, since
        nothing below a 0700 directory can be reached by another user anyway.
        0700 is enough for containers running as any user: the runtime (root)
        mounts and pivots into the rootfs before the process drops privileges,
        and the process never walks the host path to it.
        """
        searchable = (self.root, os.path.join(self.root, "containers"))  # 0711 for user namespaces (husk.engine.userns)
        # locks/ too, now: on a full disk a new file may still fit in a directory that
        # exists (an inode, an entry), a new directory may not (a block), and without
        # its lock nothing can remove the container that could not start
        for path in (self.root, os.path.join(self.root, "containers"), os.path.join(self.root, "layers"),
                     self.runroot, os.path.join(self.runroot, "containers"), os.path.join(self.runroot, "locks")):
            try:
                mode = os.stat(path).st_mode & 0o777
            except FileNotFoundError:
                make_private_dirs(path)
                continue
            if mode & 0o077 and not (mode & 0o077 == 0o011 and path in searchable):
                os.chmod(path, mode & 0o700)

    # storage root
    @property
    def state_dir(self) -> str:
        return os.path.join(self.root, "state")

    def layer_dir(self, layer_id: str) -> str:
        """A layer's directory, by its diff_id (refused unless a sha256 digest)."""
        return os.path.join(self.root, "layers", check_digest(layer_id, "layer id").removeprefix("sha256:"))

    def layer_diff(self, layer_id: str) -> str:
        return os.path.join(self.layer_dir(layer_id), "diff")

    def container_dir(self, container_id: str) -> str:
        return os.path.join(self.root, "containers", _check_id(container_id, "container id"))

    def userdata(self, container_id: str) -> str:
        return os.path.join(self.container_dir(container_id), "userdata")

    def oom_marker(self, container_id: str) -> str:
        """Made when the kernel's OOM killer struck the container, by its monitor
        (plain OCI runtimes) or a runtime backend (the shim's waiter), as
        podman's conmon makes one; taken when the exit is recorded."""
        return os.path.join(self.userdata(container_id), "oom")

    def log_path(self, container_id: str) -> str:
        return os.path.join(self.userdata(container_id), "ctr.log")

    def artifacts(self, container_id: str) -> str:
        return os.path.join(self.userdata(container_id), "artifacts")

    def volume_driver_dir(self, driver: str) -> str:
        """A volume driver's own directory: `volumes` for local (podman's
        `volumes/NAME/_data`), `volume-drivers/NAME` for a plugin's."""
        if driver == "local":
            return os.path.join(self.root, "volumes")
        if not _NAME.fullmatch(driver):
            raise InvalidArgument(f"invalid volume driver name {driver!r}")
        return os.path.join(self.root, "volume-drivers", driver)

    def image_mount_dir(self, image_id: str) -> str:
        """Where `image mount` mounts an image (``merged``), with an empty directory beside it."""
        return os.path.join(self.root, "image-mounts", _check_id(image_id, "image id"))

    @property
    def secrets_dir(self) -> str:
        """Secrets' values, one 0600 file per secret id."""
        return os.path.join(self.root, "secrets", "filedriver")

    # run root
    @property
    def volumes_lock(self) -> str:
        return os.path.join(self.runroot, "locks", "volumes.lock")

    @property
    def alive_marker(self) -> str:
        return os.path.join(self.runroot, "alive")

    @property
    def refresh_lock(self) -> str:
        return os.path.join(self.runroot, "alive.lock")

    def lock_path(self, container_id: str) -> str:
        return os.path.join(self.runroot, "locks", _check_id(container_id, "container id") + ".lock")

    @property
    def exits_dir(self) -> str:
        return os.path.join(self.runroot, "exits")

    def exit_file(self, container_id: str) -> str:
        return os.path.join(self.exits_dir, _check_id(container_id, "container id"))

    @property
    def container_run_dirs(self) -> str:
        """Where every container's run directory is (see container_run_dir)."""
        return os.path.join(self.runroot, "containers")

    def container_run_dir(self, container_id: str) -> str:
        return os.path.join(self.container_run_dirs, _check_id(container_id, "container id"))

    def temporary_mount(self, container_id: str) -> str:
        """Present while an export or copy holds an uncounted mount of the rootfs
        (see husk.engine.lifecycle.rootfs_mounted)."""
        return os.path.join(self.container_run_dir(container_id), "temporary-mount")

    def checkpoint_marker(self, container_id: str) -> str:
        """Present while a checkpoint runs (see husk.engine.lifecycle.checkpoint):
        one left behind means its CLI died, maybe with the container frozen."""
        return os.path.join(self.container_run_dir(container_id), "checkpointing")

    def cleanup_marker(self, container_id: str) -> str:
        """Made by the container's monitor at its start, removed by the cleanup that
        leaves its exit command nothing to do (see husk.monitor)."""
        return os.path.join(self.container_run_dir(container_id), "cleanup-pending")

    def attach_socket(self, container_id: str) -> str:
        return os.path.join(self.container_run_dir(container_id), "attach")

    def pid_file(self, container_id: str) -> str:
        return os.path.join(self.container_run_dir(container_id), "pidfile")

    def exec_dir(self, container_id: str, session_id: str) -> str:
        """An exec session's run files: attach, exit, pidfile, process.json, oci-log."""
        return os.path.join(self.container_run_dir(container_id), "exec", _check_id(session_id, "exec session id"))

    def exec_file(self, container_id: str, session_id: str, name: str) -> str:
        """One of the files :meth:`exec_dir` lists, by name."""
        return os.path.join(self.exec_dir(container_id, session_id), name)

    def runtime_root(self, runtime_name: str) -> str:
        return os.path.join(self.runroot, "runtime", runtime_name)

    def netns(self, container_id: str) -> str:
        """The container's network namespace, bind-mounted on this file."""
        return os.path.join(self.runroot, "netns", _check_id(container_id, "container id"))

    def network_backend_dir(self, name: str) -> str:
        """A network backend's own transient files (netavark: aardvark-dns's configuration)."""
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
            raise InvalidArgument(f"invalid network backend name {name!r}")
        return os.path.join(self.runroot, "network", name)

    @property
    def events_log(self) -> str:
        return os.path.join(self.runroot, "events", "events.log")
