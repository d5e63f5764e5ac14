"""gVisor's runsc (a kernel in user space) as a husk backend.

runsc speaks the OCI command line, so the shared base class does the work;
what differs, each measured with Debian 12's runsc 0.0~20221219:

- **Platform.**  How the sandbox traps the container's system calls: KVM
  where /dev/kvm really works, else ptrace.  Chosen by a trial run, never
  assumed (see :mod:`husk_runsc.probe`): on a nested hypervisor /dev/kvm
  opens but a KVM sandbox never starts.
- **Network.**  runsc's own network stack ("sandbox") refuses to start on this
  build even in a fresh network namespace ("cannot run with network enabled
  in root network namespace").  So a container on a network (a bridge, whose
  namespace husk made, or the host's) runs with ``--network=host``: the
  sandbox uses the kernel's sockets *of the namespace husk gave it*, so the
  bridge's address and ``--network host`` mean what they mean with runc.  A
  ``--network none`` container runs with runsc's ``--network=none`` (gVisor's
  stack, loopback only), the one mode gVisor can checkpoint.
- **Checkpoint and restore** are runsc's own (``checkpoint --image-path``, an
  image of the whole sandbox, ``checkpoint.img``) behind husk's checkpoint
  verbs (husk-criu drives them), for ``--network none`` containers; an
  ``--export``ed archive is ``--import``ed under its own id (not ``--name``:
  the image keeps the id).  CRIU's
  options are refused, ``--leave-running`` too: runsc's stops the sandbox
  and restores it, and that stop times out here ("context deadline
  exceeded"), leaving the container exited.
- **Features, probed:** runsc has no OCI ``features`` command; what it can
  do is what ``runsc help`` lists (see :mod:`husk_runsc.probe`): ``update``
  and checkpoint/restore are refused when it does not list them.
- **Refused:** ``update`` (this runsc lists no such subcommand), ``exec
  --preserve-fds`` (its exec has no such flag), a checkpoint of a container on
  a network.  Each is one line and exit 125.
- **Created, never started:** runsc will not signal it; :meth:`Runsc.kill`
  destroys the sandbox instead.
"""

from __future__ import annotations

import json
import os
from typing import Any

from husk.define import InvalidArgument, RuntimeFailure
from husk.engine.oci_runtime import OCIRuntime, probe_binary
from husk.hooks import hookimpl

from husk.engine.runtime_features import probe as probe_features  # (husk_runsc.probe is the submodule)

from .probe import FEATURE_ARGUMENTS, platform, summarize


class Runsc(OCIRuntime):
    name = "runsc"
    binary = "runsc"

    #: the file runsc's checkpoint writes into the image directory (CRIU's is inventory.img)
    checkpoint_image = "checkpoint.img"
    #: gVisor's image keeps the container's id: restored under another (an import
    #: with --name), `kill --all` finds none of its processes (measured)
    checkpoint_keeps_id = True

    def features(self) -> dict[str, Any]:
        """What `runsc help` and `--version` say (cached as runc's features are)."""
        return probe_features(self.path, self.state_root, FEATURE_ARGUMENTS, summarize)

    @property
    def supports_checkpoint(self) -> bool:  # type: ignore[override]
        return self.features().get("Checkpoint") is not False

    def global_args(self) -> list[str]:
        return [*super().global_args(), f"--platform={platform(self.path)}"]

    def create_command(self, container_id: str, bundle: str, pid_file: str, log_file: str) -> list[str]:
        return _with_network(super().create_command(container_id, bundle, pid_file, log_file), bundle)

    def start(self, container_id: str) -> None:
        """runsc sets the sandbox's network up at `start`, by the --network
        given there, so it must be the one the sandbox was created with."""
        state = self.state(container_id)
        network = _network(state["bundle"]) if state and state.get("bundle") else "host"
        self.run(f"--network={network}", "start", container_id, container_id=container_id)

    def restore_command(self, container_id: str, bundle: str, image_path: str, pid_file: str, log_file: str,
                        flags: list[str]) -> list[str]:
        _refuse_criu_flags("restore", flags)
        argv = super().restore_command(container_id, bundle, image_path, pid_file, log_file, flags)
        return _with_network(argv, bundle)

    def checkpoint(self, container_id: str, image_path: str, work_path: str, flags: list[str]) -> None:
        """`work_path` is the container's bundle (husk-criu passes its userdata)."""
        if not self.supports_checkpoint:
            raise InvalidArgument("this runsc cannot checkpoint: `runsc help` lists no checkpoint and restore")
        if _network(work_path) != "none":
            raise InvalidArgument("runsc can checkpoint only a container run with --network none: gVisor "
                                  "refuses to checkpoint a sandbox on the host's network stack, which runs "
                                  "husk's bridge and host networks under this runsc")
        _refuse_criu_flags("checkpoint", flags)
        super().checkpoint(container_id, image_path, work_path, flags)

    def describe(self) -> dict[str, Any]:
        """`husk info` shows the probed platform too."""
        return {**super().describe(), "Platform": platform(self.path)}

    def exec_command(self, container_id: str, process_file: str, pid_file: str, log_file: str,
                     preserve_fds: int = 0) -> list[str]:
        if preserve_fds:
            raise InvalidArgument("runsc cannot pass file descriptors into an exec session (--preserve-fds)")
        return super().exec_command(container_id, process_file, pid_file, log_file)

    def update(self, container_id: str, resources: dict[str, Any]) -> None:
        if self.features().get("Update") is False:
            raise InvalidArgument("runsc cannot change a running container's resources "
                                  "(`runsc help` lists no update command)")
        super().update(container_id, resources)

    def kill(self, container_id: str, signal: int, all_processes: bool = False) -> None:
        """runsc refuses to signal a container that was created and never
        started ("cannot signal container ... in state created"), where runc
        kills its waiting init.  Its process never ran, so any signal ends
        it: husk destroys the sandbox instead (stop and rm -f then work)."""
        try:
            super().kill(container_id, signal, all_processes)
        except RuntimeFailure as exc:
            if "in state created" not in str(exc):
                raise
            super().delete(container_id, force=True)

    def delete(self, container_id: str, force: bool = False) -> None:
        """runsc's delete asks the sandbox to stop its container and gives up
        after 5 s when the sandbox is exiting already ("context deadline
        exceeded"), though the sandbox then goes away.  That is a success
        when runsc no longer knows the container; else it is retried once."""
        try:
            super().delete(container_id, force)
        except RuntimeFailure as exc:
            if "deadline exceeded" not in str(exc):
                raise
            if self.state(container_id) is not None:
                super().delete(container_id, force=True)


def _network(bundle: str) -> str:
    """runsc's --network for the container of `bundle`: "none" for a network
    namespace of its own with nothing in it (husk's --network none), else
    "host" (the namespace husk set up, or the host's)."""
    with open(os.path.join(bundle, "config.json")) as handle:
        namespaces = (json.load(handle).get("linux") or {}).get("namespaces") or []
    for namespace in namespaces:
        if namespace.get("type") == "network":
            return "host" if namespace.get("path") else "none"
    return "host"


def _with_network(argv: list[str], bundle: str) -> list[str]:
    """`argv` (a runsc command line) with the container's --network flag among the global ones."""
    return [argv[0], f"--network={_network(bundle)}", *argv[1:]]


def _refuse_criu_flags(verb: str, flags: list[str]) -> None:
    options = [flag for flag in flags if flag.startswith("--")]
    if options:
        raise InvalidArgument(f"runsc cannot {verb} with {', '.join(options)}")


@hookimpl
def husk_register_runtimes(register):
    if probe_binary(Runsc.binary):
        register(Runsc.name, Runsc)
