"""Starting a shim, its task service's messages, and its ``delete`` action.

The messages of containerd's ``Task`` service (api/runtime/task/v2 and v3
share field numbers), encoded with :mod:`husk_shimv2.proto`.  Used by the
backend in husk's process and by the waiter beside the container, so only
the standard library's C modules and ``os`` here.
"""

import os
import select

from . import proto, ttrpc

SERVICE_V2 = "containerd.task.v2.Task"
SERVICE_V3 = "containerd.task.v3.Task"

#: containerd.v1.types.Status
STATUSES = {1: "created", 2: "running", 3: "stopped", 4: "paused", 5: "paused"}

RUNC_OPTIONS = "containerd.runc.v1.Options"
RUNC_CHECKPOINT_OPTIONS = "containerd.runc.v1.CheckpointOptions"
KATA_OPTIONS = "runtimeoptions.v1.Options"
#: how containerd's typeurl names spec types it carries as JSON
SPEC_TYPE = "types.containerd.io/opencontainers/runtime-spec/1/"

#: the file, in the shim's bundle, where husk keeps the shim's address and service
ADDRESS_FILE = "husk-shim-address"
#: how long a shim action (start, delete) may take
ACTION_SECONDS = 60
#: what a shim built on containerd 2.3 or later says when its start gets no BootstrapParams
NEEDS_BOOTSTRAP = "started through the deprecated API"
#: the -publish-binary: containerd's own, which shims no longer run (events go to $TTRPC_ADDRESS)
PUBLISH_BINARY = "/bin/false"


class ShimError(Exception):
    """Starting the shim or its delete action failed (the message says why)."""


# -- bootstrap ----------------------------------------------------------------------------
def parse_bootstrap(output: bytes) -> tuple:
    """(socket address, task service) from what ``SHIM start`` printed.

    Three formats: a plain ``unix://`` address (shims built on containerd up
    to 1.7: task v2), JSON ``{"version": 3, "address": ..., "protocol":
    "ttrpc"}`` (2.0 to 2.2: task v3), and a protobuf
    ``containerd.runtime.bootstrap.v1.BootstrapResult{version = 1, address =
    2, protocol = 3}`` (2.3 on), which says the same as the JSON."""
    text = output.strip()
    if text.startswith(b"{"):
        import json  # only for shims built on containerd 2.x

        document = json.loads(text)
        if not isinstance(document, dict) or not document.get("address"):
            raise ShimError("the shim printed no address: %r" % output[:200])
        if document.get("protocol", "ttrpc") != "ttrpc":
            raise ShimError("the shim speaks %s, not ttrpc" % document.get("protocol"))
        service = SERVICE_V3 if int(document.get("version", 2)) >= 3 else SERVICE_V2
        return str(document["address"]), service
    if text.startswith((b"unix://", b"/")) and b"\n" not in text:
        return text.decode(), SERVICE_V2
    try:
        fields = proto.decode(output)
        version, address, protocol = int(proto.first(fields, 1)), proto.text(fields, 2), proto.text(fields, 3)
    except (ValueError, TypeError, AttributeError):  # the last two: a field of the wrong wire type
        raise ShimError("the shim printed no address: %r" % output[:200]) from None
    if not address.startswith(("unix://", "/")):
        raise ShimError("the shim printed no address: %r" % output[:200])
    if protocol not in ("", "ttrpc"):
        raise ShimError("the shim speaks %s, not ttrpc" % protocol)
    return address, SERVICE_V3 if version >= 3 else SERVICE_V2


def bootstrap_params(namespace: str, address: str, container_id: str, events_address: str) -> bytes:
    """What a shim built on containerd 2.3 or later reads on its start's stdin:
    ``containerd.runtime.bootstrap.v1.BootstrapParams{instance_id = 1,
    namespace = 2, containerd_ttrpc_address = 5, containerd_grpc_address = 6,
    containerd_binary = 7}`` (id and namespace must match the command line;
    log level INFO, no extensions: the runtime options go with Create, and no
    socket_dir: the shim's default, as older shims have)."""
    return proto.encode([(1, container_id), (2, namespace), (5, events_address), (6, address),
                         (7, PUBLISH_BINARY)])


def run_action(binary: str, action: list, namespace: str, address: str, container_id: str, bundle: str,
               env: dict = None, stdin: bytes = b"") -> bytes:
    """Run ``SHIM -namespace NS -address ADDR -publish-binary BIN -id ID ACTION...``
    in ``bundle`` (with ``env`` added to the environment, ``stdin`` as its
    input: at most a pipe's buffer); its stdout, or ShimError with its last
    line of stderr.
    Without ``subprocess``: the waiter forks off this process, and what it
    imports stays in every container's waiter."""
    argv = [binary, "-namespace", namespace, "-address", address, "-publish-binary", PUBLISH_BINARY,
            "-id", container_id, *action]
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    in_r, in_w = os.pipe2(os.O_CLOEXEC)
    os.write(in_w, stdin)
    os.close(in_w)
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(bundle)
            os.dup2(in_r, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.execve(binary, argv, {**os.environ, **(env or {})})
        finally:
            os._exit(127)
    os.close(in_r)
    os.close(out_w)
    os.close(err_w)
    output = {out_r: bytearray(), err_r: bytearray()}
    open_fds = [out_r, err_r]
    while open_fds:
        ready = select.select(open_fds, [], [], ACTION_SECONDS)[0]
        if not ready:
            os.kill(pid, 9)
            break
        for fd in ready:
            chunk = os.read(fd, 65536)
            if chunk:
                output[fd] += chunk
            else:
                open_fds.remove(fd)
    os.close(out_r)
    os.close(err_r)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code != 0:
        lines = output[err_r].decode(errors="replace").strip().splitlines()
        raise ShimError("%s %s failed: %s" % (os.path.basename(binary), action[-1],
                                              lines[-1] if lines else "exit code %d" % code))
    return bytes(output[out_r])


def start_shim(binary: str, namespace: str, address: str, container_id: str, bundle: str,
               events_address: str = "") -> tuple:
    """Run ``SHIM start`` in ``bundle`` (whose name must be the id); the shim
    daemon it leaves behind is reparented to the nearest subreaper, and sends
    its events to ``events_address`` (``$TTRPC_ADDRESS``; none: it logs that
    and carries on).  Returns (socket address, task service), also kept in
    the bundle's address file.

    A shim built on containerd 2.3 or later refuses a start without
    BootstrapParams on its stdin, and older ones would take them for runtime
    options and fail: so the start is plain, and asked again with them when
    the shim says it wants them."""
    env = {"TTRPC_ADDRESS": events_address} if events_address else None
    try:
        output = run_action(binary, ["start"], namespace, address, container_id, bundle, env)
    except ShimError as exc:  # built on containerd 2.3 or later: it wants BootstrapParams
        if NEEDS_BOOTSTRAP not in str(exc):
            raise
        output = run_action(binary, ["start"], namespace, address, container_id, bundle, env,
                            bootstrap_params(namespace, address, container_id, events_address))
    result = parse_bootstrap(output)
    with open(os.path.join(bundle, ADDRESS_FILE), "w") as handle:
        handle.write("%s\n%s\n" % result)
    return result


def read_address(bundle: str) -> tuple:
    """(socket address, service) of the shim serving ``bundle``; OSError when there is none."""
    with open(os.path.join(bundle, ADDRESS_FILE)) as handle:
        address, service = handle.read().split()
    return address, service


def shim_delete(binary: str, namespace: str, address: str, container_id: str, bundle: str) -> int:
    """``SHIM ... -bundle B delete``: what is left when the shim died (it
    kills the container and deletes it from the runtime).  Returns the
    DeleteResponse's exit status (137 when it killed the container)."""
    output = run_action(binary, ["-bundle", bundle, "delete"], namespace, address, container_id, bundle)
    return proto.first(proto.decode(output), 2)


# -- task messages ------------------------------------------------------------------------
class Task:
    """The task service of one shim, for one container."""

    def __init__(self, address: str, service: str, container_id: str, timeout: float = 60.0) -> None:
        self.client = ttrpc.Client(address, timeout)
        self.service = service
        self.id = container_id

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Task":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, method: str, fields: list) -> dict:
        return proto.decode(self.client.call(self.service, method, proto.encode(fields)))

    def create(self, bundle: str, stdio: tuple, terminal: bool, options: list = None, checkpoint: str = "") -> int:
        """CreateTaskRequest{id 1, bundle 2, terminal 4, stdin 5, stdout 6, stderr 7,
        checkpoint 8, options 10}; the init's pid."""
        reply = self.call("Create", [(1, self.id), (2, bundle), (4, terminal), (5, stdio[0]), (6, stdio[1]),
                                     (7, stdio[2]), (8, checkpoint), (10, options)])
        return proto.first(reply, 1)

    def start(self, exec_id: str = "") -> int:
        return proto.first(self.call("Start", [(1, self.id), (2, exec_id)]), 1)

    def state(self, exec_id: str = "") -> dict:
        """StateResponse as runc's `state` says it: status, pid, and the exit status."""
        reply = self.call("State", [(1, self.id), (2, exec_id)])
        return {"status": STATUSES.get(proto.first(reply, 4), "unknown"), "pid": proto.first(reply, 3),
                "exit_status": proto.first(reply, 9), "bundle": proto.text(reply, 2)}

    def send_wait(self, exec_id: str = "") -> int:
        """Send a Wait (it answers when the process has exited); see :meth:`wait_reply`."""
        return self.client.send(self.service, "Wait", proto.encode([(1, self.id), (2, exec_id)]))

    def wait_reply(self, stream_id: int) -> int:
        """WaitResponse's exit_status (1)."""
        return proto.first(proto.decode(self.client.receive(stream_id)), 1)

    def kill(self, signal: int, all_processes: bool = False, exec_id: str = "") -> None:
        self.call("Kill", [(1, self.id), (2, exec_id), (3, signal), (4, all_processes)])

    def exec(self, exec_id: str, stdio: tuple, terminal: bool, process_json: bytes) -> None:
        """ExecProcessRequest{id, exec_id, terminal, stdin, stdout, stderr, spec 7 (an OCI process as JSON)}."""
        spec = proto.any_message(SPEC_TYPE + "Process", process_json)
        self.call("Exec", [(1, self.id), (2, exec_id), (3, terminal), (4, stdio[0]), (5, stdio[1]),
                           (6, stdio[2]), (7, spec)])

    def resize(self, width: int, height: int, exec_id: str = "") -> None:
        self.call("ResizePty", [(1, self.id), (2, exec_id), (3, width), (4, height)])

    def close_stdin(self, exec_id: str = "") -> None:
        self.call("CloseIO", [(1, self.id), (2, exec_id), (3, True)])

    def pause(self) -> None:
        self.call("Pause", [(1, self.id)])

    def resume(self) -> None:
        self.call("Resume", [(1, self.id)])

    def update(self, resources_json: bytes) -> None:
        self.call("Update", [(1, self.id), (2, proto.any_message(SPEC_TYPE + "LinuxResources", resources_json))])

    def pids(self) -> list:
        """The pids of the container's processes (PidsResponse.processes[].pid)."""
        reply = self.call("Pids", [(1, self.id)])
        return [proto.first(proto.decode(info), 1) for info in reply.get(1, [])]

    def checkpoint(self, path: str, options: list = None) -> None:
        self.call("Checkpoint", [(1, self.id), (2, path), (3, options)])

    def delete(self, exec_id: str = "") -> int:
        """DeleteResponse's exit_status (2)."""
        return proto.first(self.call("Delete", [(1, self.id), (2, exec_id)]), 2)

    def connect(self) -> dict:
        reply = self.call("Connect", [(1, self.id)])
        return {"shim_pid": proto.first(reply, 1), "task_pid": proto.first(reply, 2)}

    def shutdown(self) -> None:
        """Ask the shim to exit; it may close the connection instead of answering."""
        try:
            self.call("Shutdown", [(1, self.id), (2, True)])
        except (ttrpc.ConnectionLost, ConnectionError):
            pass


def runc_options(root: str, criu_work_path: str = "") -> list:
    """containerd.runc.v1.Options{root = 7, criu_work_path = 11} as an Any:
    runc's state stays under husk's run root, CRIU's restore log in husk's userdata."""
    return proto.any_message(RUNC_OPTIONS, proto.encode([(7, root), (11, criu_work_path)]))


def runc_checkpoint_options(leave_running: bool, open_tcp: bool, file_locks: bool, image_path: str,
                            work_path: str) -> list:
    """containerd.runc.v1.CheckpointOptions{exit = 1, open_tcp = 2, file_locks = 5,
    image_path = 8, work_path = 9} as an Any."""
    return proto.any_message(RUNC_CHECKPOINT_OPTIONS, proto.encode(
        [(1, not leave_running), (2, open_tcp), (5, file_locks), (8, image_path), (9, work_path)]))


def kata_options(config_path: str) -> list:
    """runtimeoptions.v1.Options{type_url = 1, config_path = 2} as an Any, as kata's shim reads it."""
    return proto.any_message(KATA_OPTIONS, proto.encode([(2, config_path)]))
