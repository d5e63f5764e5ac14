"""The libpod API (`/v{major}.{minor}.{patch}/libpod/...`): what podman-py's
containers and images calls use.

The same engine calls as the Docker routes, in podman's shapes: the create
body is podman's SpecGenerator (snake_case), inspect is
:meth:`husk.Container.inspect` (podman's document), the list is `ps
--format json`'s, wait answers the bare exit code, delete a list of reports.
Logs, exec and the error bodies are Docker's, as podman's service does.
"""

from __future__ import annotations

import time

import msgspec
from aiohttp import web

from ..define import HuskError, InvalidArgument, NoSuchImage, State
from ..formats.namespaces import to_flag
from ..formats.signals import signal_name
from ..formats.timestamps import rfc3339
from . import blocking, docker, documents
from .changes import LinuxResources
from .responses import json_response, request_container, request_runtime
from .requests import HealthcheckBody, Namespace, PortMappingBody, decode_body, filters, flag, integer
from .keys import WATCHER

libpod_routes = web.RouteTableDef()
#: the libpod API version husk reports (podman 4's)
LIBPOD_API_VERSION = "4.3.1"


# -- system ---------------------------------------------------------------------------------
@libpod_routes.get("/_ping")
async def ping(request: web.Request) -> web.Response:
    return web.Response(text="OK", headers={"Libpod-API-Version": LIBPOD_API_VERSION,
                                            "Api-Version": documents.API_VERSION,
                                            "Libpod-Buildah-Version": "", "Cache-Control": "no-cache"})


@libpod_routes.get("/version")
async def version(request: web.Request) -> web.Response:
    """Docker's document, its engine component named as podman's client looks it up ("Podman
    Engine", whose Details carry the libpod API's version: podman --remote prints that, not
    Docker's ApiVersion); the platform's name says it is husk."""
    from .. import __version__

    document = documents.version()
    document["BuildTime"] = "1970-01-01T00:00:00Z"  # Go's client parses it as RFC 3339
    document["Components"] = [{"Name": "Podman Engine", "Version": __version__, "Details": {
        "APIVersion": LIBPOD_API_VERSION, "MinAPIVersion": "4.0.0", "Arch": document["Arch"],
        "BuildTime": document["BuildTime"], "Experimental": "false", "GitCommit": "",
        "GoVersion": document["GoVersion"], "KernelVersion": document["KernelVersion"], "Os": "linux"}}]
    return json_response(document)


@libpod_routes.get("/info")
async def info(request: web.Request) -> web.Response:
    """podman's Info document (host, store, registries, plugins, version): podman --remote info
    reads it (Docker's /info has no `host`, and podman's client dies on that)."""
    return json_response(await blocking.run(_info, request_runtime(request)))


def _info(runtime) -> dict:
    """The fields husk knows, under podman's Go names (its client matches them case-insensitively),
    completed by husk.presentation.host_info as `husk info` is."""
    import os

    from .. import __version__
    from ..engine import security
    from ..engine.spec import DEFAULT_CAPABILITIES
    from ..presentation.host_info import podman_info_fields

    try:
        oci = runtime.oci_runtime().describe()
    except HuskError as exc:  # the default runtime's plugin is disabled: said, not failed
        oci = {"Name": runtime.default_runtime, "Path": "", "Version": f"unavailable: {exc}"}
    states = [c.state.state for c in runtime.containers(errors=[])]
    running, paused = states.count(State.RUNNING), states.count(State.PAUSED)
    served = documents.version()
    uname = os.uname()
    document = {
        "Host": {"Arch": served["Arch"], "Hostname": uname.nodename, "Kernel": uname.release, "OS": "linux",
                 "CgroupVersion": "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1",
                 "EventLogger": runtime.events_backend, "LogDriver": "k8s-file",
                 "OCIRuntime": {"Name": oci["Name"], "Path": oci["Path"], "Version": oci["Version"], "Package": ""},
                 "Security": security.host_document(DEFAULT_CAPABILITIES)},
        "Store": {"GraphRoot": runtime.paths.root, "RunRoot": runtime.paths.runroot, "GraphDriverName": "overlay",
                  "ContainerStore": {"number": len(states), "running": running, "paused": paused,
                                     "stopped": len(states) - running - paused},
                  "ImageStore": {"number": len(runtime.store.images())}},
        "Plugins": {},
        "Version": {"APIVersion": LIBPOD_API_VERSION, "Version": __version__, "GoVersion": served["GoVersion"],
                    "GitCommit": "", "BuiltTime": "", "Built": 0, "OsArch": f"linux/{served['Arch']}", "Os": "linux"},
    }
    podman_info_fields(runtime, document)
    document["Host"]["ServiceIsRemote"] = True
    return document


# -- containers -----------------------------------------------------------------------------
class SpecMount(msgspec.Struct):
    destination: str
    source: str = ""
    type: str = "bind"
    options: list[str] | None = None


class PerNetworkBody(msgspec.Struct):
    aliases: list[str] | None = None
    static_ips: list[str] | None = None
    static_mac: str = ""


class SpecSecret(msgspec.Struct):
    """SpecGenerator.secrets: a secret mounted as a file (podman-py's `secrets=`)."""

    source: str
    target: str = ""
    uid: int = 0
    gid: int = 0
    mode: int = 0


class NamedVolume(msgspec.Struct, rename={"name": "Name", "dest": "Dest", "options": "Options"}):
    """SpecGenerator.volumes: a named volume (empty Name: an anonymous one)."""

    dest: str
    name: str = ""
    options: list[str] | None = None


class IDMap(msgspec.Struct):
    """One line of a mapping (containers/storage's idtools.IDMap)."""

    container_id: int = 0
    host_id: int = 0
    size: int = 0


class AutoUserNsOptions(msgspec.Struct, rename="pascal"):
    size: int = 0


class IDMappings(msgspec.Struct, rename={"uid_map": "UIDMap", "gid_map": "GIDMap", "auto_user_ns": "AutoUserNs",
                                         "auto_user_ns_opts": "AutoUserNsOpts"}):
    """SpecGenerator.idmappings (containers/storage's IDMappingOptions; HostUIDMapping and
    HostGIDMapping say no more than empty maps do)."""

    uid_map: list[IDMap] | None = None
    gid_map: list[IDMap] | None = None
    auto_user_ns: bool = False
    auto_user_ns_opts: AutoUserNsOptions | None = None


def _userns_flags(spec: "SpecGenerator") -> tuple[str, list[str], list[str]]:
    """SpecGenerator's userns {nsmode, value} and idmappings as the CLI's --userns, --uidmap and
    --gidmap values (podman's client sends `private`, or nothing, with the maps it parsed)."""
    mode = spec.userns.nsmode if spec.userns is not None else ""
    value = spec.userns.value if spec.userns is not None else ""
    maps = spec.idmappings or IDMappings()
    uidmap, gidmap = ([f"{m.container_id}:{m.host_id}:{m.size}" for m in lines or []]
                      for lines in (maps.uid_map, maps.gid_map))
    if maps.auto_user_ns and mode in ("", "auto"):
        mode = "auto"
        size = maps.auto_user_ns_opts.size if maps.auto_user_ns_opts is not None else 0
        value = value or (f"size={size}" if size else "")
    if mode == "private" and (uidmap or gidmap):
        mode = ""  # the maps make the namespace private
    return to_flag(mode, value), uidmap, gidmap


class SpecDevice(msgspec.Struct):
    """One of SpecGenerator.devices: podman's client sends each --device value whole in `path`."""

    path: str


class RLimit(msgspec.Struct):
    """One of SpecGenerator.r_limits (an OCI POSIXRlimit: RLIMIT_NOFILE, soft, hard)."""

    type: str
    soft: int = 0
    hard: int = 0


class LogConfig(msgspec.Struct):
    """SpecGenerator.log_configuration: --log-driver, and --log-opt's path, max-size (`size`) and tag."""

    driver: str = ""
    path: str = ""
    size: int = 0
    options: dict[str, str] | None = None


class Personality(msgspec.Struct):
    """SpecGenerator.personality (an OCI LinuxPersonality)."""

    domain: str = ""


class SpecGenerator(msgspec.Struct):
    """The fields of podman's SpecGenerator that husk acts on (others are ignored)."""

    image: str = ""
    name: str = ""
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    env: dict[str, str] | None = None
    work_dir: str = ""
    user: str = ""
    hostname: str = ""
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    stop_signal: int | None = None
    stop_timeout: int | None = None
    terminal: bool = False
    stdin: bool = False
    remove: bool = False
    privileged: bool = False
    cap_add: list[str] | None = None
    cap_drop: list[str] | None = None
    seccomp_policy: str = "default"
    seccomp_profile_path: str = ""
    no_new_privileges: bool = False
    apparmor_profile: str = ""
    selinux_opts: list[str] | None = None
    mask: str = ""
    unmask: str = ""
    procfs_opts: list[str] | None = None
    oci_runtime: str = ""
    read_only_filesystem: bool = False
    restart_policy: str = ""
    restart_tries: int | None = None
    mounts: list[SpecMount] | None = None
    volumes: list[NamedVolume] | None = None
    volumes_from: list[str] | None = None
    secrets: list[SpecSecret] | None = None
    secret_env: dict[str, str] | None = None
    netns: Namespace | None = None
    userns: Namespace | None = None
    idmappings: IDMappings | None = None
    portmappings: list[PortMappingBody] | None = None
    #: podman's `-P` and `--expose` (port -> protocol)
    publish_image_ports: bool = False
    expose: dict[str, str] | None = None
    networks: dict[str, PerNetworkBody] | None = None
    #: podman-remote's `--network slirp4netns:OPTIONS`: {"slirp4netns": [OPTION, ...]}
    network_options: dict[str, list[str]] | None = None
    #: an OCI LinuxResources document: its limit, shares, quota and period are husk's limits, the rest
    #: (--cpuset-cpus, --memory-swap, --blkio-weight, ...) the run options' resources fragment
    resource_limits: dict | None = None
    #: the pod it joins (name or id)
    pod: str = ""
    #: podman's Schema2HealthConfig (Docker's HealthConfig)
    healthconfig: HealthcheckBody | None = None
    #: /etc/resolv.conf and /etc/hosts (--dns, --dns-search, --dns-option, --add-host, --no-hosts)
    dns_server: list[str] | None = None
    dns_search: list[str] | None = None
    dns_option: list[str] | None = None
    hostadd: list[str] | None = None
    use_image_hosts: bool = False
    #: the run options (--device as its flag's text in `path`, --ulimit, --sysctl, --shm-size, --init, ...)
    devices: list[SpecDevice] | None = None
    r_limits: list[RLimit] | None = None
    sysctl: dict[str, str] | None = None
    shm_size: int | None = None
    init: bool = False
    init_path: str = ""
    timezone: str = ""
    groups: list[str] | None = None
    umask: str = ""
    oom_score_adj: int | None = None
    pidns: Namespace | None = None
    ipcns: Namespace | None = None
    utsns: Namespace | None = None
    cgroupns: Namespace | None = None
    cgroup_parent: str = ""
    unsetenv: list[str] | None = None
    unsetenv_all: bool = False
    envmerge: list[str] | None = None
    chroot_directories: list[str] | None = None
    timeout: int = 0
    systemd: str = ""
    sdnotifyMode: str = ""
    cgroups_mode: str = ""
    hostusers: list[str] | None = None
    passwd_entry: str = ""
    personality: Personality | None = None
    #: --requires: containers started before this one
    dependencyContainers: list[str] | None = None
    image_volume_mode: str = ""
    log_configuration: LogConfig | None = None
    #: --health-on-failure as podman's client numbers it (0: none, not sent)
    health_check_on_failure_action: int = 0


def _create_arguments(spec: SpecGenerator) -> dict:
    from ..presentation.mounts import parse_tmpfs, parse_volume
    from ..state.records import HostFiles

    if not spec.image:
        raise InvalidArgument("no image given: the create body needs \"image\"")
    mounts = []
    for mount in spec.mounts or []:
        options = ",".join(mount.options or [])
        if mount.type == "tmpfs":
            mounts.append(parse_tmpfs(mount.destination + (f":{options}" if options else "")))
            continue
        if mount.type != "bind":
            raise InvalidArgument(f"mount type {mount.type!r} is not supported here: use bind or tmpfs")
        mounts.append(parse_volume(f"{mount.source}:{mount.destination}" + (f":{options}" if options else "")))
    for volume in spec.volumes or []:
        options = ",".join(volume.options or [])
        source = f"{volume.name}:" if volume.name else ""
        if source.startswith(("/", ".")):
            raise InvalidArgument(f"invalid volume name {volume.name!r}")
        mounts.append(parse_volume(f"{source}{volume.dest}" + (f":{options}" if options else "")))
    restart = spec.restart_policy or "no"
    if restart == "on-failure" and spec.restart_tries:
        restart += f":{spec.restart_tries}"
    network, ports, first = _network(spec)
    expose = [f"{port}/{protocol or 'tcp'}" for port, protocol in (spec.expose or {}).items()]
    return {"expose": expose, "publish_all": spec.publish_image_ports,"command": spec.command, "entrypoint": spec.entrypoint, "name": spec.name,
            "env": [f"{key}={value}" for key, value in (spec.env or {}).items()], "workdir": spec.work_dir,
            "user": spec.user, "hostname": spec.hostname, "labels": spec.labels or {},
            "annotations": spec.annotations or {},
            "stop_signal": signal_name(spec.stop_signal) if spec.stop_signal else "",  # as --stop-signal stores it
            "stop_timeout": spec.stop_timeout,
            "tty": spec.terminal, "stdin_open": spec.stdin, "auto_remove": spec.remove,
            "privileged": spec.privileged, "cap_add": spec.cap_add or (), "cap_drop": spec.cap_drop or (),
            "security_opt": _security_options(spec), "seccomp_policy": spec.seccomp_policy or "default",
            "runtime": spec.oci_runtime, "read_only": spec.read_only_filesystem, "restart_policy": restart,
            "mounts": mounts, "network": network, "ports": ports, "static_ips": list(first.static_ips or []),
            "static_mac": first.static_mac, "aliases": list(first.aliases or []),
            "resources": _resources(spec.resource_limits),
            "volumes_from": spec.volumes_from or (), "secrets": _secrets(spec), "pod": spec.pod,
            "dependencies": spec.dependencyContainers or (),
            "image_volume": _IMAGE_VOLUME_MODES.get(spec.image_volume_mode, spec.image_volume_mode),
            "healthcheck": _healthcheck(spec),
            "host_files": HostFiles(dns_servers=spec.dns_server or [], dns_search=spec.dns_search or [],
                                    dns_options=spec.dns_option or [], add_hosts=spec.hostadd or [],
                                    no_hosts=spec.use_image_hosts)}


#: SpecGenerator's image_volume_mode (podman's client sends "anonymous" for --image-volume bind, its default)
_IMAGE_VOLUME_MODES = {"": "bind", "anonymous": "bind"}


def _healthcheck(spec: SpecGenerator) -> dict | None:
    """healthconfig (Docker's HealthConfig) and the on-failure action as the engine's create takes them."""
    from ..engine.health import ON_FAILURE_NUMBERS

    actions = {number: name for name, number in ON_FAILURE_NUMBERS.items()}
    settings = spec.healthconfig.settings() if spec.healthconfig else {}
    action = spec.health_check_on_failure_action
    if action not in actions:
        raise InvalidArgument(f"invalid health_check_on_failure_action {action}: 0 (none), 2 (kill), 3 (restart) or "
                              "4 (stop)")
    if action:
        settings = {**settings, "on_failure": actions[action]}
    return settings or None


def _secrets(spec: SpecGenerator) -> list[str]:
    """SpecGenerator's secrets (files) and secret_env (variable -> secret) as `--secret` values."""
    values = []
    for secret in spec.secrets or []:
        value = f"{secret.source},type=mount,uid={secret.uid},gid={secret.gid}"
        value += f",target={secret.target}" if secret.target else ""
        values.append(value + (f",mode={secret.mode:o}" if secret.mode else ""))
    values += [f"{name},type=env,target={variable}" for variable, name in (spec.secret_env or {}).items()]
    return values


def _security_options(spec: SpecGenerator) -> list[str]:
    """podman's spec generator fields as the `--security-opt` values they stand for."""
    pairs = [("seccomp", spec.seccomp_profile_path), ("apparmor", spec.apparmor_profile), ("mask", spec.mask),
             ("unmask", spec.unmask), ("proc-opts", ",".join(spec.procfs_opts or []))]
    return ([f"{key}={value}" for key, value in pairs if value]
            + [f"label={value}" for value in spec.selinux_opts or []]
            + (["no-new-privileges"] if spec.no_new_privileges else []))


def _run_options(runtime, spec: SpecGenerator):
    """The RunOptions of the create: SpecGenerator's fields as the values of the flags they stand
    for, read by the flags' one reader (husk.engine.run_options.from_flags: the same checks and
    messages as `husk run`'s, and nothing granted that the flags would refuse)."""
    from ..engine.run_options import from_flags, resource_flags

    log = spec.log_configuration or LogConfig()
    if log.path and not log.path.startswith("/"):  # the service's working directory is no place for it
        raise InvalidArgument(f"log_configuration.path {log.path!r} must be an absolute path")
    limits, fragment = _split_resources(spec.resource_limits or {})
    userns, uidmap, gidmap = _userns_flags(spec)
    namespaces = {key: to_flag(namespace.nsmode, namespace.value) for key, namespace in (
        ("pid_ns", spec.pidns), ("ipc_ns", spec.ipcns), ("uts_ns", spec.utsns), ("cgroup_ns", spec.cgroupns))
        if namespace is not None}
    opts = {
        "device": [device.path for device in spec.devices or []],
        "ulimit": [f"{limit.type.lower().removeprefix('rlimit_')}={limit.soft}:{limit.hard}"
                   for limit in spec.r_limits or []],
        "sysctl": [f"{key}={value}" for key, value in (spec.sysctl or {}).items()],
        "shm_size": str(spec.shm_size) if spec.shm_size is not None else "", "init": spec.init,
        "init_path": spec.init_path, "tz": spec.timezone, "group_add": spec.groups or [], "umask": spec.umask,
        "oom_score_adj": spec.oom_score_adj, **namespaces, "cgroup_parent": spec.cgroup_parent,
        "unsetenv": spec.unsetenv or [], "unsetenv_all": spec.unsetenv_all, "env_merge": spec.envmerge or [],
        "timeout": spec.timeout, "passwd_entry": spec.passwd_entry, "hostuser": spec.hostusers or [],
        "chrootdirs": spec.chroot_directories or [], "systemd": spec.systemd, "sdnotify": spec.sdnotifyMode,
        "cgroups": spec.cgroups_mode, "personality": spec.personality.domain if spec.personality else "",
        "log_driver": log.driver,
        "log_opt": ([f"path={log.path}"] if log.path else []) + ([f"max-size={log.size}"] if log.size > 0 else [])
        + [f"{key}={value}" for key, value in (log.options or {}).items()],
        "userns": userns, "uidmap": uidmap, "gidmap": gidmap, "memory": (limits.get("memory") or {}).get("limit"),
        **resource_flags(fragment)}
    return from_flags(opts, lambda: runtime)


def _network(spec: SpecGenerator):
    """netns.nsmode (bridge, none, host; "" is the default) with the named
    networks, port mappings (a host port of 0 is a free one) and the first
    network's static addresses and aliases.  slirp4netns's network_options
    become the flag's `slirp4netns:OPTIONS`, which create checks as the CLI's."""
    from ..network.ports import libpod_mapping

    mode = to_flag(spec.netns.nsmode, spec.netns.value) if spec.netns is not None and spec.netns.nsmode else None
    slirp4netns = (spec.network_options or {}).get("slirp4netns")
    if mode == "slirp4netns" and slirp4netns:
        mode += ":" + ",".join(slirp4netns)
    names = list(spec.networks or {})
    network = names if names and mode in (None, "bridge") else mode
    ports = [port for m in spec.portmappings or []
             for port in libpod_mapping(m.container_port, m.host_port, m.host_ip, m.protocol, m.range)]
    first = next(iter((spec.networks or {}).values()), PerNetworkBody())
    return network, ports, first


def _resources(document: dict | None):
    """The limits part of podman's resource_limits as husk's limits (None: none given)."""
    from ..engine.resources import limits as make_limits
    from .changes import resource_arguments

    if not document:
        return None
    limits, _ = _split_resources(document)
    try:
        body = msgspec.convert(limits, LinuxResources)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(f"invalid resource_limits: {exc}") from None
    return make_limits(**resource_arguments(body)) if limits else None


#: the fields of an OCI LinuxResources document that husk's limits hold (the others: a fragment)
_LIMIT_FIELDS = {"memory": ("limit",), "cpu": ("shares", "quota", "period"), "pids": ("limit",)}


def _split_resources(document: dict) -> tuple[dict, dict]:
    """(husk's limits part, the rest as an OCI linux.resources fragment)."""
    limits: dict = {}
    rest: dict = {}
    for key, value in document.items():
        if key in _LIMIT_FIELDS and isinstance(value, dict):
            mine = {field: item for field, item in value.items() if field in _LIMIT_FIELDS[key]}
            other = {field: item for field, item in value.items() if field not in _LIMIT_FIELDS[key]}
            if mine:
                limits[key] = mine
            if other:
                rest[key] = other
        else:
            rest[key] = value
    return limits, rest


@libpod_routes.post("/containers/create")
async def create(request: web.Request) -> web.Response:
    spec = await decode_body(request, SpecGenerator)
    kwargs = _create_arguments(spec)
    runtime = request_runtime(request)

    def make():
        return runtime.create_container(spec.image, run_options=_run_options(runtime, spec), **kwargs)

    container = await blocking.run(make)
    return json_response({"Id": container.id, "Warnings": []}, status=201)


@libpod_routes.get("/containers/json")
async def list_containers(request: web.Request) -> web.Response:
    from ..presentation.ps import ps_document, select_containers

    all_ = flag(request, "all")
    limit = integer(request, "limit", -1)
    wanted = filters(request)

    def collect():
        """`ps --format json`'s documents in the service's shape: Created in RFC 3339 (podman's
        ListContainer.Created is a time; its CLI prints epoch seconds) and Status only the health
        check's (podman's client makes the column from State and the times, and adds Status)."""
        from ..engine.health import status as health

        entries = select_containers(request_runtime(request), all_=all_, filters=wanted, no_trunc=True, errors=[])
        return [{**ps_document(row, container, image), "Created": rfc3339(container.config.created),
                 "Status": health(container) if container.state.state is State.RUNNING else ""}
                for row, container, image in entries]

    rows = await blocking.run(collect)
    return json_response(rows[:limit] if limit and limit > 0 else rows)


@libpod_routes.get("/containers/{id}/json")
async def inspect(request: web.Request) -> web.Response:
    def read():
        """The CLI's document (podman's libpod shape)."""
        container = request_runtime(request).container(request.match_info["id"])
        container.sync_if_unlocked()
        return container.inspect()

    return json_response(await blocking.run(read))


@libpod_routes.get("/containers/{id}/exists")
async def exists(request: web.Request) -> web.Response:
    await request_container(request)
    return web.Response(status=204)


@libpod_routes.post("/containers/{id}/start")
async def start(request: web.Request) -> web.Response:
    """Start the container and, first, what it depends on (a pod's infra container, --requires),
    as podman's service and the CLI do; without Docker's AutoRemove clean-up."""
    container = await request_container(request)
    await blocking.run(lambda: container.start(recursive=True))
    return web.Response(status=204)


# stop, kill and logs answer as the Docker routes do (podman's service shares them too)
libpod_routes.post("/containers/{id}/stop")(docker.stop)
libpod_routes.post("/containers/{id}/kill")(docker.kill)
libpod_routes.get("/containers/{id}/logs")(docker.logs)


#: podman's wait conditions that mean "not running" (husk waits for all of them alike)
_STOPPED_CONDITIONS = frozenset({"stopped", "exited", "configured", "created"})
#: the health check's status (see husk.engine.health): the container's own wait
_HEALTH_CONDITIONS = frozenset({"healthy", "unhealthy"})


@libpod_routes.post("/containers/{id}/wait")
async def wait(request: web.Request) -> web.Response:
    """The exit code, as a bare JSON number, once the container is not running."""
    from .waiting import wait_for

    conditions = request.query.getall("condition", []) or ["stopped"]
    for condition in conditions:
        if condition not in _STOPPED_CONDITIONS | _HEALTH_CONDITIONS:
            raise InvalidArgument(f"unsupported wait condition {condition!r}: use stopped, exited, healthy "
                                  "or unhealthy")
    since = time.time()
    container = await request_container(request)
    if set(conditions) & _HEALTH_CONDITIONS:
        return json_response(await blocking.run(container.wait, conditions))
    code, error = await wait_for(container, "not-running", since, request.app[WATCHER])
    if error:
        raise InvalidArgument(error)
    return json_response(code)


@libpod_routes.delete("/containers/{id}")
async def remove(request: web.Request) -> web.Response:
    force, volumes = flag(request, "force"), flag(request, "v")
    timeout = integer(request, "timeout", integer(request, "t"))
    container = await request_container(request)
    await blocking.run(container.remove, force=force, timeout=0 if force and timeout is None else timeout,
                       volumes=volumes)
    return json_response([{"Id": container.id, "Err": None}])


# -- images ---------------------------------------------------------------------------------
@libpod_routes.get("/images/json")
async def list_images(request: web.Request) -> web.Response:
    """libpod's ImageSummary list, newest first, of the images its `filters` keep (those of
    `images --filter`: a remote client's)."""
    from ..presentation.image_filters import image_filter
    from ..presentation.images import image_summary

    wanted = [f"{key}={value}" for key, values in filters(request).items() for value in values]

    def collect():
        runtime = request_runtime(request)
        keep = image_filter(runtime, wanted)
        return [image_summary(image, row["Containers"]) for image, row in docker.image_summaries(runtime)
                if keep(image)]

    return json_response(await blocking.run(collect))


@libpod_routes.get("/images/{name:.+}/exists")
async def image_exists(request: web.Request) -> web.Response:
    from ..storage.images import resolve_image

    name = request.match_info["name"]
    try:
        await blocking.run(resolve_image, request_runtime(request), name)
    except NoSuchImage:
        raise NoSuchImage(f"{name}: image not known") from None
    return web.Response(status=204)
