"""Typed records kept in the state store.

Every record is a msgspec Struct with a schema `version`; the store decodes with
the type, so a record that does not match (garbage, a truncated write, a field of
the wrong type) is refused as CorruptRecord instead of half-loading.  A
container is two records: its config, written at create (and rewritten only
by rename and update), and its state, rewritten at each transition -- so a
state save never rewrites the config.

No ``from __future__ import annotations`` here: msgspec reads these
annotations to build each decoder, and as strings it compiles and evaluates
every one, about 1 ms of each process that reads a record (issue 20).
"""

import msgspec

from ..define import DEFAULT_PIDS_LIMIT, DEFAULT_STOP_SIGNAL, DEFAULT_STOP_TIMEOUT, State
from .run_options import RunOptions

SCHEMA_VERSION = 1


class Mount(msgspec.Struct, omit_defaults=True):
    """One OCI mount: `-v` binds and `--tmpfs` end up here."""

    destination: str
    type: str = "bind"
    source: str = ""
    options: list[str] = []


class ImageConfig(msgspec.Struct, omit_defaults=True):
    """What an image says about how to run it (the OCI image config's `config`)."""

    cmd: list[str] = []
    entrypoint: list[str] = []
    env: list[str] = []
    workdir: str = ""
    user: str = ""
    labels: dict[str, str] = {}
    stop_signal: str = ""
    #: the image's VOLUME entries: each gets an anonymous volume at create
    volumes: list[str] = []
    #: the image's EXPOSE entries ("80/tcp"): what `-P` publishes
    exposed_ports: list[str] = []


class ImageRecord(msgspec.Struct, omit_defaults=True):
    id: str
    names: list[str]
    layers: list[str]
    created: float
    size: int = 0
    config: ImageConfig = msgspec.field(default_factory=ImageConfig)
    version: int = SCHEMA_VERSION
    #: the image's config as Docker and OCI write it; `id` is its sha256, so a
    #: saved archive carries these exact bytes (empty for images stored before)
    config_json: str = ""
    #: the digest of the manifest it was pulled or pushed as (its RepoDigests), if any
    digest: str = ""
    #: every name it has had, most recent first (podman's NamesHistory; kept by Store.put_image)
    names_history: list[str] = []
    #: the OCI manifest's annotations (`build --annotation`; a pull's manifest's), pushed with it
    annotations: dict[str, str] = {}
    #: a manifest list's (`husk manifest`) index, as JSON; empty for an image
    manifest_list: str = ""
    #: a manifest list's instances: digest -> the id of the local image it was made from
    list_instances: dict[str, str] = {}


class VolumeRecord(msgspec.Struct, omit_defaults=True):
    """A volume (see husk.volumes).  `users` is its use count as a set: the
    containers holding it mounted; `user_mounts` counts `volume mount`s."""

    name: str
    driver: str
    created: float
    labels: dict[str, str] = {}
    options: dict[str, str] = {}
    anonymous: bool = False
    uid: int = -1
    gid: int = -1
    #: true until the first container mounts it (then an empty volume gets the image's content)
    needs_copy_up: bool = True
    users: list[str] = []
    user_mounts: int = 0
    version: int = SCHEMA_VERSION


class SecretRecord(msgspec.Struct, omit_defaults=True):
    """A secret's record; its value is kept apart, in a 0600 file (see husk.engine.secrets)."""

    id: str
    name: str
    created: float
    driver: str = "file"
    labels: dict[str, str] = {}
    version: int = SCHEMA_VERSION


class SecretUse(msgspec.Struct, omit_defaults=True):
    """`--secret NAME[,type=mount|env,target=,uid=,gid=,mode=]`: how a container gets a secret."""

    id: str
    name: str
    type: str = "mount"
    target: str = ""
    uid: int = 0
    gid: int = 0
    mode: int = 0o444


class RestartPolicy(msgspec.Struct, omit_defaults=True):
    name: str = "no"
    max_retries: int = 0


class Resources(msgspec.Struct, omit_defaults=True):
    """Cgroup limits (`--memory`, `--cpus`, `--cpu-shares`, `--pids-limit`); 0 is no limit.
    Checked and converted by :mod:`husk.engine.resources`; `update` may change them."""

    memory: int = 0  # bytes
    nano_cpus: int = 0  # 1e-9 CPUs (a CFS quota)
    cpu_shares: int = 0  # relative weight; 0: the kernel's default
    pids_limit: int = DEFAULT_PIDS_LIMIT


class PortMapping(msgspec.Struct, omit_defaults=True):
    """One published port (`-p`): the host's address and port to the container's
    port, `range` ports from there (netavark's port mapping)."""

    container_port: int
    host_port: int
    host_ip: str = ""
    protocol: str = "tcp"
    range: int = 1


class NetworkAttachment(msgspec.Struct, omit_defaults=True):
    """How a container joins one network (`--ip`, `--mac-address`,
    `--network-alias`, `network connect`); empty: husk's choices."""

    static_ips: list[str] = []
    static_mac: str = ""
    aliases: list[str] = []
    interface_name: str = ""


class HostFiles(msgspec.Struct, omit_defaults=True):
    """What `--dns`, `--dns-search`, `--dns-option`, `--add-host` and
    `--no-hosts` make of /etc/resolv.conf and /etc/hosts (bridge networking)."""

    dns_servers: list[str] = []
    dns_search: list[str] = []
    dns_options: list[str] = []
    add_hosts: list[str] = []  # HOST:IP, checked at create
    no_hosts: bool = False


class NetAddress(msgspec.Struct, omit_defaults=True):
    ipnet: str  # the address with its prefix length, 10.88.0.2/16
    gateway: str | None = None


class NetInterface(msgspec.Struct, omit_defaults=True):
    mac_address: str = ""
    subnets: list[NetAddress] | None = None


class NetworkStatus(msgspec.Struct, omit_defaults=True):
    """A network backend's answer for one network (see husk.network.backend)."""

    interfaces: dict[str, NetInterface] | None = None
    dns_server_ips: list[str] | None = None
    dns_search_domains: list[str] | None = None


class Security(msgspec.Struct, omit_defaults=True):
    """`--security-opt` and `--seccomp-policy`, parsed (husk.engine.security)."""

    #: "" podman's default profile, "unconfined", or a profile file's absolute path
    seccomp: str = ""
    seccomp_policy: str = "default"
    no_new_privileges: bool = False
    apparmor: str = ""
    labels: list[str] = []
    mask: list[str] = []
    unmask: list[str] = []
    proc_opts: list[str] = []


class Healthcheck(msgspec.Struct, omit_defaults=True):
    """A container's health check (`--health-*` or the image's HEALTHCHECK, see
    husk.engine.health); times in nanoseconds, as Docker's and podman's configs."""

    #: ["CMD-SHELL", "shell command"] or ["CMD", "exec", "form"]
    test: list[str]
    interval: int = 30_000_000_000  # 0: no scheduled checks (`healthcheck run` still works)
    timeout: int = 30_000_000_000
    start_period: int = 0
    retries: int = 3
    on_failure: str = "none"  # none, kill, restart, stop


class HealthResult(msgspec.Struct):
    """One check: when it ran (Unix seconds), its exit code (-1: timed out) and output."""

    start: float
    end: float
    exit_code: int
    output: str


class Health(msgspec.Struct, omit_defaults=True):
    """The health of a running container: reset to `starting` at each start."""

    status: str = "starting"  # starting, healthy, unhealthy
    failing_streak: int = 0
    #: the last five checks, oldest first
    log: list[HealthResult] = []
    #: a check has succeeded since the start (which ends the start period)
    succeeded: bool = False


class ContainerConfig(msgspec.Struct, omit_defaults=True):
    """Everything fixed at create time.  The OCI spec is generated from this."""

    id: str
    name: str
    created: float
    image_id: str
    image_name: str  # as the user typed it (Docker's Config.Image keeps this)
    runtime: str
    command: list[str] = []
    entrypoint: list[str] = []
    env: list[str] = []
    workdir: str = ""
    user: str = ""
    hostname: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    stop_signal: str = DEFAULT_STOP_SIGNAL
    stop_timeout: int = DEFAULT_STOP_TIMEOUT
    network: str = "none"  # bridge, none or host
    #: bridge mode: the networks joined, in order (empty: the default network)
    networks: dict[str, NetworkAttachment] = {}
    ports: list[PortMapping] = []
    #: the image's and `--expose`'s ports ("80/tcp"), published or not (inspect shows them)
    exposed_ports: list[str] = []
    host_files: HostFiles = msgspec.field(default_factory=HostFiles)
    read_only: bool = False
    mounts: list[Mount] = []
    stdin_open: bool = False
    tty: bool = False
    auto_remove: bool = False
    restart_policy: RestartPolicy = msgspec.field(default_factory=RestartPolicy)
    log_driver: str = "k8s-file"
    dependencies: list[str] = []
    privileged: bool = False
    image_ref: str = ""  # the stored name it resolved to (podman's ImageName, ps's IMAGE)
    cap_add: list[str] = []
    cap_drop: list[str] = []
    #: [rows, columns] of a TTY container's terminal when its process starts (Docker's ConsoleSize)
    console_size: list[int] = []
    resources: Resources = msgspec.field(default_factory=Resources)
    security: Security = msgspec.field(default_factory=Security)
    #: `--rootfs DIR[:O]`: a host directory as the root filesystem (no image; image_id is "")
    rootfs: str = ""
    #: with `:O`: an overlay on it (changes in the container's own upper directory)
    rootfs_overlay: bool = False
    #: podman's further run/create flags (issue 12)
    run_options: RunOptions = msgspec.field(default_factory=RunOptions)
    secrets: list[SecretUse] = []
    healthcheck: Healthcheck | None = None
    #: the id of the pod it belongs to (its infra container's namespaces are its own; see husk.engine.pods)
    pod: str = ""
    version: int = SCHEMA_VERSION


class PodRecord(msgspec.Struct, omit_defaults=True):
    """A pod (see husk.engine.pods): a name for a group of containers that share
    the namespaces (`share`) their infra container holds.  Its members are the
    containers whose config names it; its state is theirs (never stored)."""

    id: str
    name: str
    created: float
    infra_id: str = ""  # none with --infra=false
    share: list[str] = []  # net, ipc, uts, pid, cgroup
    hostname: str = ""
    labels: dict[str, str] = {}
    exit_policy: str = "continue"  # or stop: the pod stops once its last member has exited
    #: the pod's own cgroup (see husk.engine.pod_cgroup): its parent, and the limits its containers share
    cgroup_parent: str = ""
    memory: int = 0  # bytes; 0: no limit
    nano_cpus: int = 0  # 1e-9 CPUs; 0: no limit
    version: int = SCHEMA_VERSION


class ExecSession(msgspec.Struct, omit_defaults=True):
    """A command run in the container by `exec`, and the monitor that runs it."""

    id: str
    command: list[str]
    pid: int = 0
    monitor_pid: int = 0
    tty: bool = False
    #: started with -d: nobody waits for it, so a later reap removes its files
    detached: bool = False
    started_at: float = 0.0
    version: int = SCHEMA_VERSION


class ContainerState(msgspec.Struct, omit_defaults=True):
    """What changes as the container lives.  Reset by refresh after a reboot."""

    state: State = State.CONFIGURED
    pid: int = 0
    monitor_pid: int = 0
    exit_code: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0
    oom_killed: bool = False
    stopped_by_user: bool = False
    #: a stop is waiting for the process to exit: podman's `stopping` state (see :meth:`shown`)
    stopping: bool = False
    mountpoint: str = ""
    restart_count: int = 0
    exec_sessions: dict[str, ExecSession] = {}
    #: stopped by a checkpoint (podman's Checkpointed: not after --leave-running), and when
    checkpointed: bool = False
    checkpointed_at: float = 0.0
    #: started by a restore (podman's Restored, RestoredAt; a start or a new checkpoint clears them)
    restored: bool = False
    restored_at: float = 0.0
    #: where the checkpoint plugin left its images and CRIU's logs, while they are there ("": not)
    checkpoint_path: str = ""
    checkpoint_log: str = ""
    restore_log: str = ""
    error: str = ""
    #: the container's network namespace file (husk's own), while it has one
    netns: str = ""
    network_status: dict[str, NetworkStatus] = {}
    #: the health check's results while it runs (None: no health check)
    health: Health | None = None
    version: int = SCHEMA_VERSION

    def restorable(self) -> bool:
        """Whether a checkpoint is there to restore: one that stopped the process, or the
        images a --leave-running checkpoint left (podman restores those too, once stopped)."""
        return self.checkpointed or bool(self.checkpoint_path)

    def shown(self) -> str:
        """The state as podman shows it: `stopping` while a stop waits, else the state's name."""
        return "stopping" if self.stopping and self.state is State.RUNNING else str(self.state)
