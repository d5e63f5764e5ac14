"""A containerd shim v2 as a husk runtime backend (``OCIRuntime``).

husk runs no containerd: the backend starts the shim itself (through the
waiter, which husk's monitor runs as the runtime's ``create``) and talks to
it over ttrpc for everything else.  Each container gets its own shim, whose
bundle is ``RUNROOT/runtime/NAME/ID`` (the shim wants the directory named
after the container; its config.json is a link to husk's).  The ``-address``
handed to the shim is a path of that run root's own: the shim hashes it
into its socket's name, so two husk run roots never share a shim.
"""

import marshal
import os
import re
import select
import shutil
import sys

from husk.define import InvalidArgument, NoSuchContainer, RuntimeFailure
from husk.engine.oci_runtime import OCIRuntime, error_for_message

from . import shim, ttrpc

WAITER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "waiter.py")
NAMESPACE = "husk"
#: how long a killed container, and a shut-down shim, may take to go
EXIT_SECONDS = 30


class ShimRuntime(OCIRuntime):
    """A shim v2 binary as a backend; subclasses name the binary and its options."""

    def __init__(self, state_root: str) -> None:
        super().__init__(state_root)
        self.address = os.path.join(state_root, "containerd.sock")

    def options(self, criu_work_path: str = "") -> list | None:
        """The runtime options (a protobuf Any) sent with Create."""
        return None

    def version(self) -> str:
        try:
            out = shim.run_action(self.path, ["-v"], NAMESPACE, self.address, "version", "/")
        except (OSError, shim.ShimError) as exc:
            return f"unavailable ({exc})"
        words = out.decode(errors="replace").split()
        return f"{os.path.basename(self.path)} {words[words.index('Version:') + 1]}" if "Version:" in words else "unknown"

    def bundle(self, container_id: str) -> str:
        return os.path.join(self.state_root, container_id)

    # -- the monitor's side -------------------------------------------------------------
    def waiter_command(self, config: dict) -> list[str]:
        config = {"binary": self.path, "namespace": NAMESPACE, "address": self.address, **config}
        return [sys.executable, "-I", "-S", WAITER, marshal.dumps(config).hex()]

    def features(self) -> dict:
        """A shim has no `features` command (a subclass may probe what it runs)."""
        return {"Source": "none"}

    def create_command(self, container_id: str, bundle: str, pid_file: str, log_file: str) -> list[str]:
        from husk.engine.oci_runtime import probe_binary

        if not probe_binary(self.path):
            raise RuntimeFailure(f"runtime {self.name}: the shim {self.binary} is not installed (not in PATH)")
        self.check_bundle(bundle)
        os.makedirs(self.state_root, mode=0o700, exist_ok=True)
        return self.waiter_command({"id": container_id, "bundle": self.bundle(container_id), "userdata": bundle,
                                    "pid_file": pid_file, "options": self.options()})

    def restore_command(self, container_id: str, bundle: str, image_path: str, pid_file: str, log_file: str,
                        flags: list[str]) -> list[str]:
        """A create whose CreateTaskRequest names the checkpoint: the shim restores it at Start."""
        refused = [flag for flag in flags if flag in ("--tcp-established", "--file-locks")]
        if refused:
            raise InvalidArgument(f"the {self.name} runtime cannot restore with {refused[0]}: "
                                  "the shim does not pass it to runc restore")
        self.check_bundle(bundle)
        return self.waiter_command({"id": container_id, "bundle": self.bundle(container_id), "userdata": bundle,
                                    "pid_file": pid_file, "options": self.options(bundle),
                                    "checkpoint": image_path})

    def checkpoint(self, container_id: str, image_path: str, work_path: str, flags: list[str]) -> None:
        self.call(container_id, "checkpoint", image_path, shim.runc_checkpoint_options(
            "--leave-running" in flags, "--tcp-established" in flags, "--file-locks" in flags, image_path,
            work_path))

    def exec_command(self, container_id: str, process_file: str, pid_file: str, log_file: str,
                     preserve_fds: int = 0) -> list[str]:
        if preserve_fds:
            raise InvalidArgument(f"the {self.name} runtime cannot pass descriptors to a process "
                                  "(--preserve-fds): a shim v2 runtime starts it with its own stdio")
        return self.waiter_command({"id": container_id, "bundle": self.bundle(container_id),
                                    "exec_id": os.path.basename(os.path.dirname(pid_file)),
                                    "pid_file": pid_file, "process_file": process_file})

    # -- talking to the shim ------------------------------------------------------------
    def task(self, container_id: str) -> "shim.Task":
        """A connection to the container's shim; NoSuchContainer when it has none,
        ConnectionError when its shim has died."""
        try:
            address, service = shim.read_address(self.bundle(container_id))
        except (OSError, ValueError):
            raise NoSuchContainer(f"{self.name}: container {container_id} does not exist in the runtime") from None
        return shim.Task(address, service, container_id)

    def call(self, container_id: str, method: str, *args):
        """``Task.method(*args)`` on the container's shim, its errors as husk's."""
        try:
            with self.task(container_id) as task:
                return getattr(task, method)(*args)
        except ttrpc.TtrpcError as exc:
            if exc.code == ttrpc.NOT_FOUND:
                raise NoSuchContainer(f"{self.name}: container {container_id} does not exist in the runtime") from None
            raise error_for_message(f"{self.name}: {exc}") from None
        except (OSError, ttrpc.ConnectionLost) as exc:
            raise RuntimeFailure(f"{self.name}: the shim of container {container_id} is gone ({exc}); "
                                 "the next command cleans up after it") from None

    def start(self, container_id: str) -> None:
        self.call(container_id, "start")

    def kill(self, container_id: str, signal: int, all_processes: bool = False) -> None:
        self.call(container_id, "kill", signal, all_processes)

    def pause(self, container_id: str) -> None:
        self.call(container_id, "pause")

    def resume(self, container_id: str) -> None:
        self.call(container_id, "resume")

    def update(self, container_id: str, resources: dict) -> None:
        import json

        self.call(container_id, "update", json.dumps(resources).encode())

    def state(self, container_id: str) -> dict | None:
        """The shim's State, as runc's `state` reports it; a dead shim is
        cleaned up after (its ``delete`` action) and the container is gone."""
        try:
            task = self.task(container_id)
        except NoSuchContainer:
            return None
        except OSError:
            self.repair(container_id)
            return None
        try:
            with task:
                state = task.state()
        except ttrpc.TtrpcError as exc:
            if exc.code == ttrpc.NOT_FOUND:
                return None
            raise error_for_message(f"{self.name}: {exc}") from None
        except (OSError, ttrpc.ConnectionLost):
            self.repair(container_id)
            return None
        return {"id": container_id, "status": state["status"], "pid": state["pid"], "bundle": state["bundle"]}

    def delete(self, container_id: str, force: bool = False) -> None:
        """Delete the task and shut its shim down (waiting until it has gone,
        so that the monitor, its parent, reaps it); a dead shim's leftovers
        are cleaned up by its ``delete`` action.  Unknown containers are fine."""
        try:
            task = self.task(container_id)
        except NoSuchContainer:
            shutil.rmtree(self.bundle(container_id), ignore_errors=True)
            return
        except OSError:
            self.repair(container_id)
            return
        try:
            with task:
                shim_pid = task.connect()["shim_pid"]
                status = task.state()["status"]
                if force and status in ("created", "running", "paused"):
                    self._kill_and_wait(task, status)
                try:
                    task.delete()
                except ttrpc.TtrpcError as exc:
                    if exc.code != ttrpc.NOT_FOUND:
                        raise error_for_message(f"{self.name}: {exc}") from None
                task.shutdown()
        except (OSError, ttrpc.ConnectionLost):
            self.repair(container_id)
            return
        _wait_gone(shim_pid)
        shutil.rmtree(self.bundle(container_id), ignore_errors=True)

    def _kill_and_wait(self, task: "shim.Task", status: str) -> None:
        if status == "paused":
            task.resume()  # a frozen process does not even die of SIGKILL
        stream = task.send_wait()
        task.kill(9, True)
        task.client.sock.settimeout(EXIT_SECONDS)
        task.wait_reply(stream)

    def repair(self, container_id: str) -> None:
        """The shim died: its ``delete`` action kills the container and deletes
        it from the runtime; then its socket and bundle go."""
        bundle = self.bundle(container_id)
        try:
            address, _ = shim.read_address(bundle)
            shim.shim_delete(self.path, NAMESPACE, self.address, container_id, bundle)
        except (OSError, ValueError, shim.ShimError):
            pass
        else:
            try:
                os.unlink(ttrpc.socket_path(address))
            except (OSError, ValueError):
                pass
        shutil.rmtree(bundle, ignore_errors=True)


def _wait_gone(pid: int) -> None:
    """Until process ``pid`` has exited (a pidfd: it need not be our child)."""
    if pid <= 0:
        return
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        select.select([pidfd], [], [], EXIT_SECONDS)
    finally:
        os.close(pidfd)


class RuncShim(ShimRuntime):
    """``containerd-shim-runc-v2``: runc under a shim, its state under husk's run root."""

    name = "io.containerd.runc.v2"
    binary = "containerd-shim-runc-v2"

    @property
    def supports_checkpoint(self) -> bool:  # type: ignore[override]
        return shutil.which("criu") is not None

    def options(self, criu_work_path: str = "") -> list:
        return shim.runc_options(os.path.join(self.state_root, "runc"), criu_work_path)

    def features(self) -> dict:
        """runc's, as the shim runs runc (probed and cached as runc's own are)."""
        from husk.engine.runtime_features import probe

        runc = shutil.which("runc")
        return probe(runc, self.state_root) if runc else {"Source": "unavailable"}


#: where Kata Containers looks for its configuration, in its own order
KATA_CONFIGS = ("/etc/kata-containers/configuration.toml",
                "/usr/share/defaults/kata-containers/configuration.toml",
                "/opt/kata/share/defaults/kata-containers/configuration.toml")


class KataShim(ShimRuntime):
    """Kata Containers 2/3 (``containerd-shim-kata-v2``): a VM per container.

    Registered whether or not it is installed, so that ``--runtime kata``
    and ``husk info`` say what is missing: the shim, a configuration.toml,
    its hypervisor, /dev/kvm and /dev/vhost-vsock (the VM's agent talks vsock)."""

    name = "io.containerd.kata.v2"
    binary = "containerd-shim-kata-v2"

    @property
    def config_path(self) -> str:
        return next((path for path in KATA_CONFIGS if os.path.isfile(path)), "")

    def options(self, criu_work_path: str = "") -> list:
        return shim.kata_options(self.config_path)

    def missing(self) -> list[str]:
        """What this host lacks to run kata, one phrase each (empty: nothing)."""
        from husk.engine.oci_runtime import probe_binary

        missing = []
        if not probe_binary(self.binary):
            missing.append(f"the shim {self.binary} (not in PATH: install Kata Containers 3, which Debian 12 lacks)")
        config = self.config_path
        if not config:
            missing.append(f"a kata configuration.toml (none of {', '.join(KATA_CONFIGS)})")
        else:
            hypervisor = _kata_hypervisor(config)
            if hypervisor and not os.access(hypervisor, os.X_OK):
                missing.append(f"the hypervisor {hypervisor} that {config} names")
        for device, what in (("/dev/kvm", "KVM"), ("/dev/vhost-vsock", "modprobe vhost_vsock")):
            if not os.path.exists(device):
                missing.append(f"{device} ({what})")
        return missing

    def refuse_if_missing(self) -> None:
        missing = self.missing()
        if missing:
            raise RuntimeFailure(f"runtime {self.name} cannot run here: missing {'; '.join(missing)}")

    def create_command(self, container_id: str, bundle: str, pid_file: str, log_file: str) -> list[str]:
        self.refuse_if_missing()
        return super().create_command(container_id, bundle, pid_file, log_file)

    def version(self) -> str:
        from husk.engine.oci_runtime import probe_binary

        return super().version() if probe_binary(self.binary) else "not installed"

    def describe(self) -> dict:
        return {**super().describe(), "ConfigPath": self.config_path, "Missing": self.missing()}


class Kata(KataShim):
    """``--runtime kata``: the same as io.containerd.kata.v2."""

    name = "kata"


def _kata_hypervisor(config: str) -> str:
    """The hypervisor binary a kata configuration.toml names (``[hypervisor.NAME] path``)."""
    import tomllib

    try:
        with open(config, "rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return ""
    for settings in (document.get("hypervisor") or {}).values():
        if isinstance(settings, dict) and isinstance(settings.get("path"), str):
            return settings["path"]
    return ""


#: what a shim named in husk.conf is sent with Create, by its ``options`` setting
OPTION_KINDS = {"runc": RuncShim, "kata": KataShim, "none": ShimRuntime}
#: a runtime name: it names a directory of the run root
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def configured_runtimes(settings: dict) -> dict[str, type]:
    """Backends for the shims husk.conf names, by ``--runtime`` name::

        [plugins.shimv2.runtimes.NAME]
        shim = "/usr/local/bin/containerd-shim-mine-v2"  # a path, or a name in PATH
        options = "runc"   # what Create sends: "runc", "kata" or "none" (the default)
        config_path = "/etc/mine/configuration.toml"     # with options = "kata"

    InvalidArgument, naming the setting, for anything else."""
    unknown = set(settings) - {"runtimes"}
    runtimes = settings.get("runtimes", {})
    if unknown or not isinstance(runtimes, dict):
        raise InvalidArgument("husk.conf [plugins.shimv2]: only [plugins.shimv2.runtimes.NAME] tables are known")
    backends = {}
    for name, table in runtimes.items():
        here = f"husk.conf [plugins.shimv2.runtimes.{name}]"
        if not _NAME.fullmatch(name) or not isinstance(table, dict):
            raise InvalidArgument(f"{here}: a runtime is a table named with letters, digits, '.', '_' and '-'")
        unknown = set(table) - {"shim", "options", "config_path"}
        if unknown:
            raise InvalidArgument(f"{here}: unknown key {sorted(unknown)[0]}")
        binary, kind = table.get("shim"), table.get("options", "none")
        if not isinstance(binary, str) or not binary:
            raise InvalidArgument(f"{here}: shim must name the shim's binary")
        if kind not in OPTION_KINDS:
            raise InvalidArgument(f"{here}: options must be one of {', '.join(OPTION_KINDS)}")
        members = {"name": name, "binary": binary}
        if "config_path" in table:
            if kind != "kata" or not isinstance(table["config_path"], str):
                raise InvalidArgument(f"{here}: config_path (a path) goes with options = \"kata\"")
            members["config_path"] = table["config_path"]
        backends[name] = type(f"Configured{OPTION_KINDS[kind].__name__}", (OPTION_KINDS[kind],), members)
    return backends
