"""Remote `run`, `create`, `pod create` and `network create`: the local verbs' flags (the same
click parameters, read by the same parsers), sent to the service as podman's SpecGenerator (the
libpod create body, podman 4.3's field names), PodSpecGenerator and network body, which the
service turns back into the engine's calls (husk.api.libpod, husk.api.pods, husk.api.networks).

:data:`SPEC_TABLE` is the one place that says which local flag becomes which SpecGenerator
field.  A flag it does not name, given on the command line, is refused in one line (exit 125)
rather than dropped: :data:`CLIENT_SIDE` are those the client itself acts on.
"""

from __future__ import annotations

import contextlib
import sys

import click

from ..define import InvalidArgument
from ..formats.namespaces import to_spec
from .remote import ServiceError, _copy_logs, _hijack, _pull, _pump, _terminal, client, path


def _volumes(opts: dict) -> dict:
    """-v, --mount and --tmpfs: binds and tmpfs as `mounts`, named and anonymous volumes as
    `volumes`.  A bind's source is a path on the service's host, checked there."""
    from ..presentation.mounts import parse_tmpfs, parse_volume
    from .run_flags import parse_mounts

    records = []
    for value in opts["volume"]:
        source = value.split(":")[0] if ":" in value else ""
        if source.startswith("."):
            raise InvalidArgument(f"invalid volume {value!r}: a relative host path is not supported remotely "
                                  "(give an absolute path on the service's host)")
        if source.startswith("/"):
            parts = value.split(":")
            records.append(("bind", source, parts[1], [o for o in (parts[2] if len(parts) > 2 else "").split(",")
                                                       if o]))
        else:
            mount = parse_volume(value)
            records.append((mount.type, mount.source, mount.destination, mount.options))
    for mount in [parse_tmpfs(value) for value in opts["tmpfs"]] + parse_mounts(opts["mount_"]):
        records.append((mount.type, mount.source, mount.destination, mount.options))
    mounts, volumes = [], []
    for kind, source, destination, options in records:
        if kind == "volume":
            volumes.append({"Name": source, "Dest": destination, "Options": options})
        elif kind in ("bind", "tmpfs"):
            mounts.append({"type": kind, "source": source, "destination": destination, "options": options})
        else:
            raise InvalidArgument(f"--mount type={kind} is not supported remotely yet")
    return {"mounts": mounts or None, "volumes": volumes or None}


#: --network values that are modes, not network names
_NETWORK_MODES = ("none", "host", "bridge", "private", "slirp4netns", "pasta", "container", "ns")


def _network_mode(values) -> tuple[dict | None, list[str]]:
    """--network values: (podman's netns {nsmode, value} or None, the network names)."""
    netns, names = None, []
    for value in values:
        if value.partition(":")[0] in _NETWORK_MODES:
            netns = to_spec(value)
        else:
            names.append(value)
    return netns or ({"nsmode": "bridge"} if names else None), names


def _ports(values) -> list[dict] | None:
    """-p values as libpod's portmappings; a host port left out stays 0, for the service to pick."""
    from ..network.ports import parse_publish

    return [{"container_port": m.container_port, "host_port": m.host_port, "host_ip": m.host_ip,
             "protocol": m.protocol, "range": m.range}
            for value in values for m in parse_publish(value, assign=False)] or None


def _network(opts: dict) -> dict:
    """--network (a mode, or network names), --ip, --ip6, --mac-address, --network-alias, -p."""
    netns, names = _network_mode(opts["network"])
    attachment = {"static_ips": [ip for ip in (opts["ip"], opts["ip6"]) if ip] or None,
                  "static_mac": opts["mac_address"], "aliases": list(opts["network_alias"]) or None}
    if any(attachment.values()) and not names:
        raise InvalidArgument("--ip, --ip6, --mac-address and --network-alias need a --network NAME remotely")
    networks = {name: attachment if index == 0 else {} for index, name in enumerate(names)}
    options = None
    if netns and netns["nsmode"] == "slirp4netns" and netns["value"]:  # where podman's client sends them
        netns, options = {"nsmode": "slirp4netns"}, {"slirp4netns": netns["value"].split(",")}
    return {"netns": netns, "network_options": options, "networks": networks or None,
            "portmappings": _ports(opts["publish"]),
            "publish_image_ports": opts["publish_all"],
            "expose": dict(_expose(value) for value in opts["expose"]) or None}


def _expose(value: str) -> tuple[int, str]:
    port, _, protocol = value.partition("/")
    if not port.isdigit():
        raise InvalidArgument(f"--expose {value}: a port range is not supported remotely yet")
    return int(port), protocol or "tcp"


#: the finer resource flags sent (those naming a device are not: its numbers would be this host's)
_FINER_RESOURCES = ("cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpuset_cpus", "cpuset_mems",
                    "memory_reservation", "memory_swap", "memory_swappiness", "blkio_weight", "oom_kill_disable",
                    "device_cgroup_rule", "cgroup_conf")


def _resources(opts: dict) -> dict:
    """--memory, --cpus, --cpu-shares, --pids-limit and the finer flags: checked here as locally,
    sent as one OCI LinuxResources document (podman's resource_limits)."""
    from ..engine.resources import oci_resources
    from ..engine.run_options import check_swap
    from .changes import resource_limits
    from .run_flags import resource_fragment

    limits = resource_limits(opts)
    if limits is not None and limits.nano_cpus and (opts["cpu_period"] or opts["cpu_quota"]):
        raise InvalidArgument("--cpus and --cpu-period or --cpu-quota cannot be sent together remotely")
    document = oci_resources(limits) if limits is not None else {}
    for key, part in resource_fragment({key: opts[key] for key in _FINER_RESOURCES}).items():
        document[key] = {**document[key], **part} if isinstance(part, dict) and key in document else part
    check_swap(document, bool(opts.get("memory")))
    return {"resource_limits": document or None}


def _env(opts: dict) -> dict:
    from .options import parse_env
    from .run_flags import host_env

    env = host_env(parse_env(opts["env"], opts["env_file"]), opts["env_host"], opts["http_proxy"])
    return {"env": dict(item.partition("=")[::2] for item in env) or None}


def _labels(opts: dict) -> dict:
    from .options import parse_labels
    from .run_flags import read_label_files

    return {"labels": parse_labels((*read_label_files(opts["label_file"]), *opts["label"])) or None}


def _restart(opts: dict) -> dict:
    policy, _, tries = opts["restart"].partition(":")
    if tries and not tries.isdigit():
        raise InvalidArgument(f"invalid restart policy {opts['restart']!r}: the retry count must be a number")
    return {"restart_policy": policy, "restart_tries": int(tries) if tries else None}


def _health(opts: dict) -> dict:
    """The health check flags, checked here as locally, as Docker's HealthConfig (nanoseconds)."""
    from .health import health_settings

    from ..engine.health import ON_FAILURE_NUMBERS

    given = health_settings(opts)
    check = {"Test": given.get("test"), "Interval": given.get("interval"), "Timeout": given.get("timeout"),
             "StartPeriod": given.get("start_period"), "Retries": given.get("retries")}
    fields = {"healthconfig": check} if any(value is not None for value in check.values()) else {}
    if "on_failure" in given:
        fields["health_check_on_failure_action"] = ON_FAILURE_NUMBERS[given["on_failure"]]
    return fields


def _security(opts: dict) -> dict:
    """--security-opt values as SpecGenerator's fields (the service makes them options again)."""
    fields: dict = {}
    for value in opts["security_opt"]:
        key, _, setting = value.partition("=") if "=" in value else value.partition(":")
        if key == "no-new-privileges":
            fields["no_new_privileges"] = setting in ("", "true")
        elif key == "seccomp":
            fields["seccomp_profile_path"] = setting
        elif key == "apparmor":
            fields["apparmor_profile"] = setting
        elif key in ("mask", "unmask"):
            fields[key] = setting
        elif key == "proc-opts":
            fields["procfs_opts"] = setting.split(",")
        elif key == "label":
            fields.setdefault("selinux_opts", []).append(setting)
        else:
            raise InvalidArgument(f"invalid --security-opt {value!r}")
    return fields


def _split(values) -> list[str] | None:
    return [item for value in values for item in value.split(",") if item] or None


def _one(field: str, key: str | None = None, convert=None):
    """A flag sent as it is (or converted) in one field; empty values are left out."""
    def build(opts: dict) -> dict:
        value = opts[key or field]
        if convert is not None:
            value = convert(value)
        return {field: value} if value not in (None, "", (), [], {}) else {}
    return build


def _namespace(field: str, key: str):
    """--pid, --ipc, --uts, --cgroupns: podman's {nsmode, value} (the service checks the value)."""
    def build(opts: dict) -> dict:
        return {field: to_spec(opts[key])} if opts[key] else {}
    return build


def _secrets(values) -> dict:
    """--secret NAME[,type=mount|env,target=,uid=,gid=,mode=] as `secrets` (files) and `secret_env`."""
    files, variables = [], {}
    for value in values:
        name, *fields = value.split(",")
        settings = dict(field.partition("=")[::2] for field in fields)
        if settings.get("type") == "env":
            variables[settings.get("target") or name] = name
            continue
        try:
            files.append({"source": name, "target": settings.get("target", ""), "uid": int(settings.get("uid", 0)),
                          "gid": int(settings.get("gid", 0)), "mode": int(settings.get("mode", "0"), 8)})
        except ValueError:
            raise InvalidArgument(f"invalid --secret {value!r}: uid, gid and mode are numbers") from None
    return {"secrets": files or None, "secret_env": variables or None}


def _userns(userns: str, uidmap, gidmap) -> dict:
    """--userns (podman's {nsmode, value}), --uidmap and --gidmap (idmappings, checked by the
    local parser: the same message)."""
    from ..engine.userns import parse_map

    def lines(values, flag: str) -> list[dict]:
        return [{"container_id": inside, "host_id": outside, "size": size}
                for inside, outside, size in parse_map(values, flag)]

    fields: dict = {"userns": to_spec(userns)} if userns else {}
    if uidmap or gidmap:
        fields["idmappings"] = {"UIDMap": lines(uidmap, "--uidmap") or None,
                                "GIDMap": lines(gidmap, "--gidmap") or None}
    return fields


def _log(driver: str, values) -> dict:
    """--log-driver and --log-opt (checked here as locally) as podman's log_configuration; a path is
    the service host's."""
    from ..engine.run_options import parse_log_driver, parse_log_options

    options = parse_log_options([value for value in values if not value.startswith("path=")])
    paths = [value.partition("=")[2] for value in values if value.startswith("path=")]
    if paths and not paths[-1].startswith("/"):
        raise InvalidArgument(f"--log-opt path={paths[-1]}: give an absolute path on the service's host remotely")
    found = {"driver": parse_log_driver(driver), "path": paths[-1] if paths else "",
             "size": options.get("log_max_size", 0),
             "options": {"tag": options["log_tag"]} if options.get("log_tag") else None}
    return {"log_configuration": found} if any(found.values()) else {}


def _pod_id(opts: dict) -> str:
    from .pod import _read_id_files

    if opts["pod"]:
        raise InvalidArgument("cannot specify both --pod and --pod-id-file")
    return _read_id_files((opts["pod_id_file"],))[0]


#: each local flag (its click parameter's name) the remote verbs send, and the builder that makes
#: its SpecGenerator fields from the parsed options
SPEC_TABLE = (
    (("image",), _one("image")), (("name",), _one("name")), (("command",), _one("command", convert=list)),
    (("auto_remove",), _one("remove", "auto_remove")), (("interactive",), _one("stdin", "interactive")),
    (("tty",), _one("terminal", "tty")),
    (("entrypoint",), lambda o: {} if o["entrypoint"] is None else {"entrypoint": _entrypoint(o["entrypoint"])}),
    (("workdir",), _one("work_dir", "workdir")), (("user",), _one("user")), (("hostname",), _one("hostname")),
    (("env", "env_file", "env_host", "http_proxy"), _env), (("label", "label_file"), _labels),
    (("annotation",), lambda o: {"annotations": _annotations(o["annotation"]) or None}),
    (("stop_signal",), lambda o: {"stop_signal": _signal(o["stop_signal"])} if o["stop_signal"] else {}),
    (("stop_timeout",), _one("stop_timeout")),
    (("network", "ip", "ip6", "mac_address", "network_alias", "publish", "publish_all", "expose"), _network),
    (("dns",), _one("dns_server", "dns", list)), (("dns_search",), _one("dns_search", convert=list)),
    (("dns_option",), _one("dns_option", convert=list)), (("add_host",), _one("hostadd", "add_host", list)),
    (("no_hosts",), _one("use_image_hosts", "no_hosts")),
    (("volume", "tmpfs", "mount_"), _volumes), (("volumes_from",), _one("volumes_from", convert=list)),
    (("read_only",), _one("read_only_filesystem", "read_only")), (("restart",), _restart),
    (("privileged",), _one("privileged")), (("cap_add",), _one("cap_add", convert=_split)),
    (("cap_drop",), _one("cap_drop", convert=_split)), (("security_opt",), _security),
    (("seccomp_policy",), _one("seccomp_policy")), (("pod",), _one("pod")),
    (("memory", "cpus", "cpu_shares", "pids_limit", *_FINER_RESOURCES), _resources),
    (("device",), lambda o: {"devices": [{"path": value} for value in o["device"]] or None}),
    (("ulimit",), lambda o: {"r_limits": _rlimits(o["ulimit"]) or None}),
    (("sysctl",), lambda o: {"sysctl": dict(v.partition("=")[::2] for v in o["sysctl"]) or None}),
    (("shm_size",), lambda o: {"shm_size": _size(o["shm_size"], "--shm-size")} if o["shm_size"] else {}),
    (("init",), _one("init")), (("init_path",), _one("init_path")), (("tz",), _one("timezone", "tz")),
    (("group_add",), _one("groups", "group_add", list)), (("umask",), _one("umask")),
    (("oom_score_adj",), _one("oom_score_adj")),
    (("health_cmd", "health_interval", "health_retries", "health_start_period", "health_timeout",
      "health_on_failure", "no_healthcheck"), _health),
    (("requires",), lambda o: {"dependencyContainers": _split(o["requires"])}),
    (("pid_ns",), _namespace("pidns", "pid_ns")), (("ipc_ns",), _namespace("ipcns", "ipc_ns")),
    (("uts_ns",), _namespace("utsns", "uts_ns")), (("cgroup_ns",), _namespace("cgroupns", "cgroup_ns")),
    (("cgroup_parent",), _one("cgroup_parent")), (("unsetenv",), _one("unsetenv", convert=list)),
    (("unsetenv_all",), _one("unsetenv_all")), (("env_merge",), _one("envmerge", "env_merge", list)),
    (("chrootdirs",), _one("chroot_directories", "chrootdirs", list)), (("timeout",), _one("timeout")),
    (("systemd",), _one("systemd", convert=str.lower)), (("sdnotify",), _one("sdnotifyMode", "sdnotify")),
    (("cgroups",), _one("cgroups_mode", "cgroups")), (("hostuser",), _one("hostusers", "hostuser", list)),
    (("passwd_entry",), _one("passwd_entry")),
    (("personality",), lambda o: {"personality": {"domain": o["personality"]}} if o["personality"] else {}),
    (("image_volume",), _one("image_volume_mode", "image_volume", lambda mode: {"bind": "anonymous"}.get(mode, mode))),
    (("secrets",), lambda o: _secrets(o["secrets"])),
    (("userns", "uidmap", "gidmap"), lambda o: _userns(o["userns"], o["uidmap"], o["gidmap"])),
    (("pod_id_file",), lambda o: {"pod": _pod_id(o)} if o["pod_id_file"] else {}),
    (("log_driver", "log_opt"), lambda o: _log(o["log_driver"], o["log_opt"])),
)

#: the flags the client acts on itself (run's, the pull's policy, files written or read here)
CLIENT_SIDE = frozenset({"detach", "cidfile", "replace", "pull_policy", "pull_quiet", "rmi", "sig_proxy",
                         "attach"})


def _entrypoint(value: str) -> list[str]:
    from .options import parse_entrypoint

    return parse_entrypoint(value)


def _annotations(values) -> dict:
    from .options import parse_annotations

    return parse_annotations(values)


def _signal(value: str) -> int:
    from ..formats.signals import parse_signal

    return parse_signal(value)


def _size(value: str, flag: str) -> int:
    from ..engine.run_options import parse_size

    return parse_size(value, flag)


def _rlimits(values) -> list[dict]:
    from ..engine.run_options import parse_ulimits

    return [{"type": name.lower().removeprefix("rlimit_"), "soft": soft, "hard": hard}  # podman's: nofile
            for name, (soft, hard) in parse_ulimits(values).items()]


def spec_generator(ctx: click.Context, opts: dict) -> dict:
    """The SpecGenerator for the parsed options; a flag given that no builder sends is refused."""
    refuse_unsent(ctx, {name for names, _ in SPEC_TABLE for name in names} | CLIENT_SIDE)
    spec: dict = {}
    for _, build in SPEC_TABLE:
        spec.update(build(opts))
    return spec


def refuse_unsent(ctx: click.Context, sent: set[str]) -> None:
    """One line (exit 125) for the first flag given on the command line that is not in `sent`."""
    from click.core import ParameterSource

    for param in ctx.command.params:
        if param.name not in sent and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE:
            flag = max(param.opts, key=len)
            raise InvalidArgument(f"{flag} is not supported remotely yet (run it on the service's host)")


def _create(ctx: click.Context, opts: dict) -> str:
    """The container made on the service (its image pulled there first as --pull says): its ID."""
    from .run_flags import check_cidfile, write_cidfile

    from .pod import _NEW_POD_FLAGS

    check_cidfile(opts["cidfile"])
    new_pod = None
    if opts["pod"].startswith("new:"):  # the pod made from the container's network flags, as locally
        new_pod = _pod_spec(opts["pod"][len("new:"):], {flag: opts[flag] for flag in _NEW_POD_FLAGS})
        opts.update({flag: () for flag in _NEW_POD_FLAGS}, pod=new_pod["name"])
    spec = spec_generator(ctx, opts)
    policy = opts["pull_policy"]  # checked before anything is made on the service
    if policy not in ("always", "missing", "never", "newer"):
        raise InvalidArgument(f'invalid pull policy "{policy}"')
    if opts["replace"] and not opts["name"]:
        raise InvalidArgument("cannot replace container without --name being set")
    service = client()
    if new_pod is not None:
        service.json("POST", "/pods/create", body=new_pod)
    if opts["replace"]:
        try:
            service.open("DELETE", path("containers", opts["name"]), {"force": "true"}).read()
        except ServiceError as exc:
            if exc.status != 404:
                raise
    if policy == "always":
        _pull(service, opts["image"], quiet=True, out=sys.stderr)
    try:
        ident = service.json("POST", "/containers/create", body=spec)["Id"]
    except ServiceError as exc:
        if policy == "never" or exc.status != 404 or "image" not in str(exc).lower():
            raise  # only a missing image is pulled: any other failure is the create's own
        _pull(service, opts["image"], quiet=opts["pull_quiet"], out=sys.stderr)
        ident = service.json("POST", "/containers/create", body=spec)["Id"]
    write_cidfile(opts["cidfile"], ident)
    return ident


def _run(ctx, detach, rmi, preserve_fds, detach_keys, sig_proxy, **opts):
    """Run a command in a new container on the service (the local verb's flags)."""
    if detach and rmi:
        raise InvalidArgument("--rmi is only for a container run in the foreground")
    from .attach import proxied_signals
    from ..engine.run_options import parse_attach

    if detach and opts["attach"]:
        raise InvalidArgument("--attach and --detach cannot be used together")
    streams = parse_attach(opts["attach"]) or ["stdin", "stdout", "stderr"]  # -a: only these (as locally)
    interactive, tty, remove = opts["interactive"] and "stdin" in streams, opts["tty"], opts["auto_remove"] or rmi
    opts["auto_remove"] = remove and detach  # attached: the client removes it once it has its exit code
    ident = _create(ctx, opts)
    service = client()
    wanted = {name: str(name in streams).lower() for name in ("stdout", "stderr")}
    stream = _hijack(service, f"{path('containers', ident, 'attach')}?stream=true&stdin={str(interactive).lower()}"
                              f"&stdout={wanted['stdout']}&stderr={wanted['stderr']}") \
        if (interactive or tty) and not detach else None
    service.open("POST", path("containers", ident, "start")).read()
    if detach:
        click.echo(ident)
        return
    proxy = sig_proxy and not (tty and interactive)  # (raw, ^C goes through the terminal: as locally)
    with proxied_signals(lambda number: _kill(service, ident, number)) if proxy else contextlib.nullcontext():
        if stream is None:
            _copy_logs(service, ident, follow=True, tty=False, options=wanted)
        elif tty:
            _terminal(service, ident, *stream, interactive)
        else:
            _pump(*stream, interactive, tty=False)
        code = service.json("POST", path("containers", ident, "wait"), {"condition": "stopped"})
    if remove:
        service.open("DELETE", path("containers", ident), {"force": "true"}).read()
    if rmi:
        try:
            service.open("DELETE", path("images", opts["image"])).read()
        except ServiceError as exc:
            click.echo(f"Error: failed removing image {opts['image']}: {exc}", err=True)
    raise SystemExit(code)


def _kill(service, ident: str, number: int) -> None:
    """--sig-proxy: a signal this client got, sent to the container through the service (from the
    proxy's thread: `service` is the command's client, found before)."""
    try:
        service.open("POST", path("containers", ident, "kill"), {"signal": str(number)}).read()
    except ServiceError:
        pass  # not running (any more): nothing to forward to


def _create_verb(ctx, **opts):
    """Create a container on the service (not started); its ID on stdout."""
    click.echo(_create(ctx, opts))


def _like(local: click.Command, callback) -> click.Command:
    """A remote verb with the local verb's flags (the same click parameters), help and settings."""
    return click.Command(local.name, params=list(local.params), callback=click.pass_context(callback),
                         help=local.help, context_settings=local.context_settings)


def commands() -> dict[str, click.Command]:
    """Remote `run` and `create` (made when a remote verb is looked up: the local verbs' options are
    built then)."""
    from . import container

    return {"run": _like(container.run, _run), "create": _like(container.create, _create_verb)}



# -- pod create, network create -------------------------------------------------------------
#: `pod create`'s flags sent in podman's PodSpecGenerator (and those the client acts on itself)
_POD_SENT = {"name", "name_arg", "infra", "infra_command", "infra_name", "share", "publish", "network", "hostname",
             "add_host", "dns", "dns_search", "dns_option", "no_hosts", "label", "cgroup_parent", "memory", "cpus",
             "exit_policy", "pod_id_file", "replace"}


def _pod_spec(name: str, opts: dict) -> dict:
    """podman's PodSpecGenerator for `pod create`'s flags (those left out: the local defaults)."""
    from ..engine.resources import limits, oci_resources
    from .options import parse_entrypoint, parse_labels

    netns, names = _network_mode(opts.get("network", ()))
    given = {key: opts[key] for key in ("memory", "cpus") if opts.get(key) is not None}
    return {"name": name, "no_infra": not opts.get("infra", True), "infra_name": opts.get("infra_name", ""),
            "infra_command": parse_entrypoint(opts["infra_command"]) if opts.get("infra_command") else None,
            "shared_namespaces": opts["share"].split(",") if opts.get("share") is not None else None,
            "hostname": opts.get("hostname", ""), "labels": parse_labels(opts.get("label", ())) or None,
            "netns": netns, "Networks": {each: {} for each in names} or None,
            "portmappings": _ports(opts.get("publish", ())), "dns_server": list(opts.get("dns", ())) or None,
            "dns_search": list(opts.get("dns_search", ())) or None,
            "dns_option": list(opts.get("dns_option", ())) or None,
            "hostadd": list(opts.get("add_host", ())) or None, "no_manage_hosts": opts.get("no_hosts", False),
            "cgroup_parent": opts.get("cgroup_parent", ""), "exit_policy": opts.get("exit_policy", "continue"),
            "resource_limits": oci_resources(limits(**given)) if given else None}


def _pod_create(ctx, name, name_arg, pod_id_file, replace, **opts):
    """Create a pod on the service (the local verb's flags); its ID on stdout."""
    from .pod import write_id_file

    refuse_unsent(ctx, _POD_SENT)
    if name and name_arg:
        raise InvalidArgument("cannot specify --name and a pod name argument together")
    name = name or name_arg
    spec = _pod_spec(name, opts)
    service = client()
    if replace:
        if not name:
            raise InvalidArgument("cannot replace pod without --name being set")
        try:
            service.open("DELETE", path("pods", name), {"force": "true"}).read()
        except ServiceError as exc:
            if exc.status != 404:
                raise
    ident = service.json("POST", "/pods/create", body=spec)["Id"]
    write_id_file(pod_id_file, ident)
    click.echo(ident)


def _network_create(ctx, driver, subnet, gateway, ip_range, internal, ipv6, disable_dns, interface_name, opt, label,
                    name):
    """Create a network on the service (the local verb's flags); its name on stdout."""
    import msgspec

    from ..network.networks import subnet_record
    from .network import _key_values

    if len(gateway) > len(subnet) or len(ip_range) > len(subnet):
        raise InvalidArgument("cannot set more gateways or ip ranges than subnets")
    subnets = [msgspec.to_builtins(subnet_record(each, gateway[i] if i < len(gateway) else "",
                                           ip_range[i] if i < len(ip_range) else ""))
               for i, each in enumerate(subnet)]
    body = {"name": name, "driver": driver, "internal": internal, "ipv6_enabled": ipv6, "dns_enabled": not disable_dns,
            "network_interface": interface_name, "subnets": subnets or None, "options": _key_values(opt, "opt"),
            "labels": _key_values(label, "label")}
    click.echo(client().json("POST", "/networks/create", body=body)["name"])


def group_create(group: str) -> click.Command:
    """The remote `pod create` or `network create`."""
    if group == "pod":
        from .pod import create as local_pod

        return _like(local_pod, _pod_create)
    from .network import create as local_network

    return _like(local_network, _network_create)
