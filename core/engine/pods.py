"""Pods: a group of containers that share namespaces, as podman's pods do.

A pod is a record (husk.state.records.PodRecord) and, unless made with
`--infra=false`, an infra container: `catatonit -P` (podman's pause process:
it does nothing and reaps) in a one-file image husk builds on first use.  The
infra container holds the namespaces the pod shares (net, ipc and uts by
default; `--share` picks among net, ipc, uts, pid and cgroup) and the pod's
network: its ports, networks, --dns and --add-host are set up once, for it.
Every other container of the pod (a member) depends on the infra container,
so starting a member starts the infra container first, and its OCI spec joins
the infra container's namespaces by path (:func:`join_spec`, at each init).

Nothing about a pod's state is stored: its members are the containers whose
config names the pod, and its status is theirs (podman's rules, :func:`status`).
Operations on the whole pod take each container's own lock in turn: the infra
container first on the way up, last on the way down.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from typing import TYPE_CHECKING, Callable, Iterable

from .. import __version__
from ..define import (AlreadyRunning, AlreadyStopped, HuskError, InvalidArgument, NoSuchContainer, State,
                      StateInvalid)
from ..state.lock import FileLock
from ..state.records import PodRecord
from . import pod_cgroup
from .names import NAME_PATTERN, random_name

if TYPE_CHECKING:
    from .container import Container
    from .runtime import Runtime

#: the image the infra container runs, built from the host's catatonit
PAUSE_IMAGE = f"localhost/husk-pause:{__version__}"
INFRA_COMMAND = ["/catatonit", "-P"]
CATATONIT = "/usr/bin/catatonit"
DEFAULT_SHARE = ["ipc", "net", "uts"]
SHAREABLE = ("cgroup", "ipc", "net", "pid", "uts")
EXIT_POLICIES = ("continue", "stop")
#: podman's --share names -> the OCI namespace types
_OCI_NAMESPACE = {"net": "network", "ipc": "ipc", "uts": "uts", "pid": "pid", "cgroup": "cgroup"}


def parse_share(value: str | None) -> list[str]:
    """`--share`: a comma list of namespaces (None: podman's default, "": none);
    a leading `+` adds to the default."""
    if value is None:
        return list(DEFAULT_SHARE)
    extra = value.startswith("+")
    kinds = [kind for kind in value.lstrip("+").split(",") if kind and kind != "none"]
    for kind in kinds:
        if kind not in SHAREABLE:
            raise InvalidArgument(f"{kind} is not a valid namespace to share: use {', '.join(SHAREABLE)}")
    return sorted(set(kinds) | (set(DEFAULT_SHARE) if extra else set()))


def pause_image(runtime: "Runtime") -> str:
    """The infra image's name, built once per storage root: /catatonit from the host."""
    from ..storage.images import import_tarball

    if runtime.store.image_id_for_name(PAUSE_IMAGE):
        return PAUSE_IMAGE
    if not os.access(CATATONIT, os.X_OK):
        raise HuskError(f"a pod's infra container runs catatonit, and {CATATONIT} is missing "
                        "(install catatonit), or use --infra=false")
    with FileLock(os.path.join(runtime.paths.runroot, "locks", "pause-image.lock")):
        if not runtime.store.image_id_for_name(PAUSE_IMAGE):
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as archive:
                info = archive.gettarinfo(CATATONIT, arcname="catatonit")
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                with open(CATATONIT, "rb") as binary:
                    archive.addfile(info, binary)
            buffer.seek(0)
            import_tarball(runtime, buffer, PAUSE_IMAGE, changes=[f"ENTRYPOINT {INFRA_COMMAND!r}".replace("'", '"')])
    return PAUSE_IMAGE


# -- the pod ------------------------------------------------------------------------------
class Pod:
    """A pod and its containers, read from the store without locks."""

    def __init__(self, runtime: "Runtime", record: PodRecord) -> None:
        self.runtime = runtime
        self.record = record

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    def __repr__(self) -> str:
        return f"<Pod {self.id[:12]} {self.name}>"

    def containers(self) -> list["Container"]:
        """Its containers, synced where that is cheap: the infra container first,
        then the members in the order they were created."""
        found = [c for c in self.runtime.containers(errors=[]) if c.config.pod == self.id]
        for container in found:
            container.sync_if_unlocked()
        return sorted(found, key=lambda c: (c.id != self.record.infra_id, c.config.created))

    def infra(self) -> "Container | None":
        if not self.record.infra_id:
            return None
        try:
            return self.runtime.container(self.record.infra_id)
        except NoSuchContainer:
            return None

    def status(self, containers: "list[Container] | None" = None) -> str:
        return status([c.state.state for c in (self.containers() if containers is None else containers)])

    # -- the verbs over every container --------------------------------------------------
    def start(self) -> None:
        """Start the infra container, then every member that is not running."""
        containers = self.containers()
        if not containers:
            raise NoSuchContainer(f"no containers in pod {self.id} have no dependencies, cannot start pod: "
                                  "no such container")
        self._each(containers, lambda c: c.start(recursive=True), skip=(AlreadyRunning,), verb="starting")
        self._emit("start")

    def stop(self, timeout: int | None = None) -> None:
        """Stop the members, then the infra container (each with its own stop timeout unless given)."""
        self._each(self._downwards(), lambda c: c.stop(timeout), skip=(AlreadyStopped,), verb="stopping",
                   only=(State.CREATED, State.RUNNING, State.PAUSED))
        self._emit("stop")

    def restart(self, timeout: int | None = None) -> None:
        self.stop(timeout)
        self.start()

    def kill(self, signal: int) -> None:
        """Signal every running container (members first)."""
        self._each(self._downwards(), lambda c: c.kill(signal), verb="killing", only=(State.RUNNING, State.PAUSED))
        self._emit("kill")

    def pause(self) -> None:
        self._each(self.containers(), lambda c: c.pause(), verb="pausing", only=(State.RUNNING,))
        self._emit("pause")

    def unpause(self) -> None:
        self._each(self.containers(), lambda c: c.unpause(), verb="unpausing", only=(State.PAUSED,))
        self._emit("unpause")

    def remove(self, force: bool = False, timeout: int | None = None) -> None:
        """Remove every container (members, then the infra container) and the record.
        Without `force`, a running or paused container refuses it, before anything is removed."""
        containers = self._downwards()
        if not force:
            busy = [c for c in containers if c.state.state in (State.RUNNING, State.PAUSED)]
            if busy:
                raise StateInvalid(f"pod {self.id} has containers that are not ready to be removed: "
                                   f"cannot remove container {busy[0].id} as it is running - running or paused "
                                   "containers cannot be removed without force")
        for container in containers:
            try:
                container.remove(force=True, timeout=timeout, volumes=True)
            except NoSuchContainer:
                pass
        pod_cgroup.remove(self.record)
        self.runtime.store.remove_pod(self.id)
        self._emit("remove")

    def _emit(self, status: str) -> None:
        """A pod event (podman's type=pod: create, start, stop, kill, pause, unpause, remove)."""
        self.runtime.emit(status, type="pod", id=self.id, name=self.name)

    def _downwards(self) -> list["Container"]:
        containers = self.containers()
        return containers[1:] + containers[:1] if self.record.infra_id else containers

    def _each(self, containers: list["Container"], operation: Callable[["Container"], None], *, verb: str,
              skip: tuple = (), only: Iterable[State] | None = None) -> None:
        """`operation` on each container in turn; the first error is raised once all were tried."""
        errors: list[HuskError] = []
        wanted = set(only) if only is not None else None
        for container in containers:
            if wanted is not None and container.state.state not in wanted:
                continue
            try:
                operation(container)
            except skip:
                pass
            except NoSuchContainer:
                pass  # removed meanwhile
            except HuskError as exc:
                errors.append(type(exc)(f"{verb} container {container.id}: {exc}"))
        if errors:
            raise errors[0]

    def top(self, descriptors: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
        """`ps` over the pod's running containers, each row naming its container."""
        header: list[str] = []
        rows: list[list[str]] = []
        running = [c for c in self.containers() if c.state.state in (State.RUNNING, State.PAUSED)]
        if not running:
            raise StateInvalid(f"pod {self.id} is not running", improper=False)
        for container in running:
            columns, lines = container.top(descriptors)
            header = columns
            rows += lines
        return header, rows


def status(states: Iterable[State]) -> str:
    """podman's pod status from its containers' states."""
    states = list(states)
    if not states:
        return "Created"
    running = sum(state is State.RUNNING for state in states)
    stopped = sum(state in (State.STOPPED, State.EXITED) for state in states)
    paused = sum(state is State.PAUSED for state in states)
    if 0 < running < len(states):
        return "Degraded"
    if running == len(states):
        return "Running"
    if stopped == len(states):
        return "Exited"
    if stopped:
        return "Stopped"
    if paused == len(states):
        return "Paused"
    return "Created"


# -- creating pods and joining them ---------------------------------------------------------
def create_pod(runtime: "Runtime", name: str = "", *, infra: bool = True, infra_command: list[str] | None = None,
               infra_name: str = "", share: str | None = None, hostname: str = "", labels: dict | None = None,
               exit_policy: str = "continue", network: "str | list[str] | None" = None, ports=(),
               host_files=None, runtime_name: str = "", cgroup_parent: str = "", memory: "str | int | None" = None,
               cpus: "str | float | None" = None, userns: dict | None = None) -> Pod:
    """Make a pod (and its infra container, `configured`: nothing runs yet).
    `network`, `ports` and `host_files` are the infra container's (see
    Runtime.create_container); they need an infra container, as in podman.
    `cgroup_parent`, `memory` and `cpus` give the pod a cgroup of its own
    that holds its containers and their shared limits (husk.engine.pod_cgroup).
    `userns` (husk.engine.userns.run_options's fields) is the infra container's user
    namespace; when it maps ids, the pod shares it (`user`): every member joins it."""
    from .resources import limits
    from ..state.records import HostFiles
    from ..state.run_options import RunOptions

    if name and not NAME_PATTERN.fullmatch(name):
        raise InvalidArgument(f'pod name "{name}" is invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*')
    if exit_policy not in EXIT_POLICIES:
        raise InvalidArgument(f'invalid pod exit policy: "{exit_policy}"')
    shared = parse_share(share)
    if not infra:
        if shared and share is not None:
            raise InvalidArgument("you must have an infra container to share namespaces")
        if ports or network is not None or (host_files and host_files != HostFiles()) or hostname:
            raise InvalidArgument("you must have an infra container to publish port bindings to the host, "
                                  "or to set a pod's network, DNS, hosts or hostname")
        shared = []
    options = RunOptions(**(userns or {}))
    pod_id = os.urandom(32).hex()
    resources = limits(memory=memory, cpus=cpus)
    record = PodRecord(id=pod_id, name=name or random_name(), created=time.time(), share=shared,
                       hostname=hostname, labels=dict(labels or {}), exit_policy=exit_policy,
                       cgroup_parent=cgroup_parent, memory=resources.memory, nano_cpus=resources.nano_cpus)
    runtime.store.add_pod(record)
    try:
        if infra:
            container = runtime.create_container(
                pause_image(runtime), [], name=infra_name or f"{pod_id[:12]}-infra",
                entrypoint=list(infra_command) if infra_command else None,
                hostname=(hostname or record.name) if "uts" in shared else "",
                network=network, ports=ports, host_files=host_files, runtime=runtime_name,
                stop_timeout=10, pod=pod_id, run_options=options)
            record.infra_id = container.id
            if container.config.run_options.uid_mappings:  # auto's range is given at create
                record.share = sorted({*record.share, "user"})
            runtime.store.save_pod(record)
    except BaseException:
        runtime.store.remove_pod(pod_id)
        raise
    runtime.emit("create", type="pod", id=pod_id, name=record.name)
    return Pod(runtime, record)


def get_pod(runtime: "Runtime", name_or_id: str) -> Pod:
    return Pod(runtime, runtime.store.pod(runtime.store.lookup_pod(name_or_id)))


def all_pods(runtime: "Runtime") -> list[Pod]:
    return [Pod(runtime, record) for record in sorted(runtime.store.pods(), key=lambda r: r.created)]


def join(runtime: "Runtime", config, pod_name_or_id: str) -> None:
    """Make a new container's config a member of the pod: it depends on the
    infra container and takes the pod's hostname; its network is the pod's,
    so it may set none of its own (podman refuses the same)."""
    from ..state.records import HostFiles

    record = runtime.store.pod(runtime.store.lookup_pod(pod_name_or_id))
    config.pod = record.id
    if pod_cgroup.wanted(record):
        config.run_options.cgroup_parent = pod_cgroup.path(record)
    if not record.infra_id:
        return
    _join_userns(runtime, config, record)
    if "net" in record.share:
        if config.ports or config.networks or config.network != runtime.config.netns and config.network != "bridge":
            raise InvalidArgument("invalid config provided: published or exposed ports must be defined when the pod "
                                  "is created: network cannot be configured when it is shared with a pod")
        if config.host_files != HostFiles():
            raise InvalidArgument("invalid config provided: --dns, --add-host and their kind must be set when the "
                                  "pod is created: network cannot be configured when it is shared with a pod")
        config.network = "none"  # its own: none; the spec joins the infra container's (join_spec)
    if "uts" in record.share:
        if config.hostname:
            raise InvalidArgument("invalid config provided: cannot set hostname when joining the pod UTS namespace")
        config.hostname = runtime.store.container_config(record.infra_id).hostname
    if record.infra_id not in config.dependencies:
        config.dependencies = [record.infra_id, *config.dependencies]


def _join_userns(runtime: "Runtime", config, record: PodRecord) -> None:
    """A pod with an infra container decides its members' user namespace, as podman's: no maps of
    their own (podman's message); in a pod that shares one, the infra container's namespace and maps
    (`container:ID`, as podman's inspect shows them; no range of their own for `auto`), and with
    keep-id the user's own ids unless --user says otherwise."""
    options = config.run_options
    if options.uid_mappings or options.gid_mappings:
        raise InvalidArgument("cannot specify a new uid/gid map when entering a pod with an infra container: "
                              "invalid argument")
    if "user" in record.share:
        infra = runtime.store.container_config(record.infra_id).run_options
        options.uid_mappings, options.gid_mappings = list(infra.uid_mappings), list(infra.gid_mappings)
        options.userns = f"container:{record.infra_id}"
        if infra.userns == "keep-id" and not config.user:  # as a keep-id container: the user's own ids
            from .userns import keep_id_user

            config.user = "{}:{}".format(*keep_id_user(infra.uid_mappings, infra.gid_mappings))


def join_spec(container: "Container", spec: dict) -> None:
    """Point a member's OCI spec at the namespaces its pod's infra container
    holds (`/proc/PID/ns/KIND`; the network: the infra container's namespace
    file), and bind the infra container's /etc/hosts and /etc/resolv.conf.
    For every container of a pod with a cgroup of its own, make that first."""
    runtime = container.runtime
    record = runtime.store.pod(container.config.pod)
    pod_cgroup.ensure(record)
    if not record.infra_id or record.infra_id == container.id:
        return
    infra = runtime.container(record.infra_id)
    if infra.state.state not in (State.RUNNING, State.PAUSED) or not infra.state.pid:
        raise StateInvalid(f"the infra container of pod {record.name} is not running: start the pod first",
                           improper=False)
    linux = spec["linux"]
    for kind in record.share:
        if kind == "user":  # joined as --userns=container:INFRA (see _join_userns)
            continue
        oci = _OCI_NAMESPACE[kind]
        rest = [ns for ns in linux["namespaces"] if ns["type"] != oci]
        if oci == "network" and infra.config.network == "host":
            linux["namespaces"] = rest
            continue
        path = infra.state.netns if oci == "network" and infra.state.netns else f"/proc/{infra.state.pid}/ns/{kind}"
        linux["namespaces"] = rest + [{"type": oci, "path": path}]
    if "net" in record.share:
        userdata = runtime.paths.userdata(infra.id)
        for mount in spec["mounts"]:
            if mount["destination"] in ("/etc/hosts", "/etc/resolv.conf"):
                shared = os.path.join(userdata, os.path.basename(mount["destination"]))
                if os.path.exists(shared):
                    mount["source"] = shared


def apply_exit_policy(container: "Container") -> None:
    """`--exit-policy stop`: once the last member of its pod has exited (run by
    the member's cleanup), the infra container is stopped too, as podman does."""
    record = _record(container.runtime, container.config.pod)
    if record.exit_policy != "stop" or not record.infra_id or container.id == record.infra_id:
        return
    pod = Pod(container.runtime, record)
    containers = pod.containers()
    if any(c.state.state in (State.RUNNING, State.PAUSED) for c in containers if c.id != record.infra_id):
        return
    infra = pod.infra()
    if infra is not None and infra.state.state in (State.RUNNING, State.PAUSED, State.CREATED):
        try:
            infra.stop()
        except (AlreadyStopped, NoSuchContainer):
            pass


def prune(runtime: "Runtime") -> list[str]:
    """Remove every stopped or exited pod and its containers (podman's pod prune); their ids."""
    removed = []
    for pod in all_pods(runtime):
        if pod.status() in ("Exited", "Stopped"):
            pod.remove(force=True)
            removed.append(pod.id)
    return removed


def is_infra(container: "Container") -> bool:
    """Whether the container is its pod's infra container (inspect's IsInfra)."""
    return bool(container.config.pod) and _record(container.runtime, container.config.pod).infra_id == container.id


def pod_name(runtime: "Runtime", pod_id: str) -> str:
    """The name of the pod `pod_id` ("" for none, or one removed meanwhile)."""
    return _record(runtime, pod_id).name if pod_id else ""


def _record(runtime: "Runtime", pod_id: str) -> PodRecord:
    from ..define import NoSuchPod

    try:
        return runtime.store.pod(pod_id)
    except NoSuchPod:
        return PodRecord(id=pod_id, name="", created=0.0)
