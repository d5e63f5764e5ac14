"""Where husk keeps things: one place that names every path, so no module builds
paths by hand.  The storage root survives reboots; the run root (a tmpfs in
production) does not, and its `alive` marker is how husk notices a reboot."""

from __future__ import annotations

import os


class Paths:
    def __init__(self, root: str, runroot: str) -> None:
        self.root = os.path.abspath(root)
        self.runroot = os.path.abspath(runroot)

    # storage root
    @property
    def state_dir(self) -> str:
        return os.path.join(self.root, "state")

    def layer_dir(self, layer_id: str) -> str:
        return os.path.join(self.root, "layers", layer_id.removeprefix("sha256:"))

    def layer_diff(self, layer_id: str) -> str:
        return os.path.join(self.layer_dir(layer_id), "diff")

    def container_dir(self, container_id: str) -> str:
        return os.path.join(self.root, "containers", container_id)

    def userdata(self, container_id: str) -> str:
        return os.path.join(self.container_dir(container_id), "userdata")

    def log_path(self, container_id: str) -> str:
        return os.path.join(self.userdata(container_id), "ctr.log")

    def artifacts(self, container_id: str) -> str:
        return os.path.join(self.userdata(container_id), "artifacts")

    # run root
    @property
    def alive_marker(self) -> str:
        return os.path.join(self.runroot, "alive")

    @property
    def refresh_lock(self) -> str:
        return os.path.join(self.runroot, "alive.lock")

    def lock_path(self, container_id: str) -> str:
        return os.path.join(self.runroot, "locks", container_id + ".lock")

    @property
    def exits_dir(self) -> str:
        return os.path.join(self.runroot, "exits")

    def exit_file(self, container_id: str) -> str:
        return os.path.join(self.exits_dir, container_id)

    def container_run_dir(self, container_id: str) -> str:
        return os.path.join(self.runroot, "containers", container_id)

    def attach_socket(self, container_id: str) -> str:
        return os.path.join(self.container_run_dir(container_id), "attach")

    def pid_file(self, container_id: str) -> str:
        return os.path.join(self.container_run_dir(container_id), "pidfile")

    def exec_dir(self, container_id: str, session_id: str) -> str:
        """An exec session's run files: attach, exit, pidfile, process.json, oci-log."""
        return os.path.join(self.container_run_dir(container_id), "exec", session_id)

    def exec_file(self, container_id: str, session_id: str, name: str) -> str:
        """One of the files :meth:`exec_dir` lists, by name."""
        return os.path.join(self.exec_dir(container_id, session_id), name)

    def runtime_root(self, runtime_name: str) -> str:
        return os.path.join(self.runroot, "runtime", runtime_name)

    @property
    def events_log(self) -> str:
        return os.path.join(self.runroot, "events", "events.log")
