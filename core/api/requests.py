"""Reading what clients send: query parameters, path parameters and JSON bodies.

Every malformed value becomes InvalidArgument (400) with a message naming it,
decided here before any engine call, so handlers only see clean values.  The
create body is decoded into typed Structs: a field of the wrong type is refused
with its JSON path (`Expected array, got int - at $.Cmd`), unknown fields are
ignored as Docker ignores them.
"""

from __future__ import annotations

import base64
import json

import msgspec
from aiohttp import web

from ..define import InvalidArgument
from .connections import read_body
from .guards import check_json_content_type
from .keys import BODY_TIMEOUT

_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"", "0", "f", "F", "false", "FALSE", "False"})
#: largest JSON body accepted (a create body is a few KiB)
MAX_JSON_BODY = 4 * 1024 * 1024


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as Go's strconv.ParseBool reads it."""
    value = request.query.get(name)
    if value is None:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidArgument(f"invalid value for {name}: {value!r} is not a boolean")


def integer(request: web.Request, name: str, default: int | None = None) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"invalid value for {name}: {value!r} is not an integer") from None


def filters(request: web.Request) -> dict[str, list[str]]:
    """Docker's `filters` parameter: `{"key": ["v", ...]}` or the older `{"key": {"v": true}}`."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):  # nesting past the interpreter's depth is RecursionError
        raise InvalidArgument(f"invalid filters: {raw[:100]!r} is not JSON") from None
    if not isinstance(parsed, dict):
        raise InvalidArgument("invalid filters: expected a JSON object")
    result: dict[str, list[str]] = {}
    for key, values in parsed.items():
        if isinstance(values, dict):
            values = [v for v, on in values.items() if on]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidArgument(f"invalid filters: the values of {key!r} must be strings")
        result[key] = values
    return result


async def decode_body(request: web.Request, kind: type):
    """The request's JSON body as `kind`; an empty body is `kind()`."""
    chunks, size = [], 0
    timeout = request.app[BODY_TIMEOUT]
    while chunk := await read_body(request, 65536, timeout):  # one read returns only what has arrived
        size += len(chunk)
        if size > MAX_JSON_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_JSON_BODY, actual_size=size)
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        return kind()
    check_json_content_type(request)
    try:
        try:
            return msgspec.json.decode(body, type=kind)
        except msgspec.DecodeError as exc:
            if "surrogate" not in str(exc) and "UTF-8" not in str(exc):
                raise
            return msgspec.json.decode(_as_go_reads(body), type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(f"invalid request body: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise InvalidArgument(f"invalid JSON in request body: {exc}") from None


def _as_go_reads(body: bytes) -> bytes:
    """`body` with U+FFFD for each byte that is not UTF-8 and each unpaired
    UTF-16 surrogate escape (`"\\udcff"`), which msgspec refuses and podman's
    Go decoder reads so: a label or command so sent is stored as podman's."""
    from ..formats.environment import utf8_document

    return msgspec.json.encode(utf8_document(json.loads(body.decode("utf-8", "surrogateescape"))))


StrOrList = list[str] | str | None


class RestartPolicyBody(msgspec.Struct, rename="pascal"):
    name: str = ""
    maximum_retry_count: int = 0


class PortBindingBody(msgspec.Struct, rename="pascal"):
    host_ip: str | None = None
    host_port: str | None = None


class EndpointIPAMConfigBody(msgspec.Struct, rename="pascal"):
    i_pv4_address: str | None = msgspec.field(default=None, name="IPv4Address")
    i_pv6_address: str | None = msgspec.field(default=None, name="IPv6Address")


class EndpointSettingsBody(msgspec.Struct, rename="pascal"):
    i_p_a_m_config: EndpointIPAMConfigBody | None = msgspec.field(default=None, name="IPAMConfig")
    aliases: list[str] | None = None
    mac_address: str | None = None


class NetworkingConfigBody(msgspec.Struct, rename="pascal"):
    endpoints_config: dict[str, EndpointSettingsBody | None] | None = None


class VolumeOptionsBody(msgspec.Struct, rename="pascal"):
    no_copy: bool = False


class MountBody(msgspec.Struct, rename="pascal"):
    """One of HostConfig.Mounts (Docker's `--mount`)."""

    type: str = "volume"
    source: str = ""
    target: str = ""
    read_only: bool = False
    volume_options: VolumeOptionsBody | None = None


class HostConfigBody(msgspec.Struct, rename="pascal"):
    binds: list[str] | None = None
    mounts: list[MountBody] | None = None
    volumes_from: list[str] | None = None
    volume_driver: str = ""
    tmpfs: dict[str, str] | None = None
    auto_remove: bool = False
    restart_policy: RestartPolicyBody | None = None
    network_mode: str = ""
    readonly_rootfs: bool = False
    privileged: bool = False
    cap_add: list[str] | None = None
    cap_drop: list[str] | None = None
    security_opt: list[str] | None = None
    runtime: str = ""
    console_size: list[int] | None = None
    memory: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    pids_limit: int | None = None
    port_bindings: dict[str, list[PortBindingBody] | None] | None = None
    publish_all_ports: bool = False
    dns: list[str] | None = None
    dns_search: list[str] | None = None
    dns_options: list[str] | None = None
    extra_hosts: list[str] | None = None
    #: "", host, or podman's --userns values (its compat API takes them all)
    userns_mode: str = ""


class HealthcheckBody(msgspec.Struct, rename="pascal"):
    """Docker's HealthConfig: times in nanoseconds, 0 (or null) for the default."""

    test: list[str] | None = None
    interval: int | None = None
    timeout: int | None = None
    start_period: int | None = None
    retries: int | None = None

    def settings(self) -> dict:
        """The check as the engine's create takes it (see husk.engine.health.from_config)."""
        from ..engine.health import from_config

        return from_config(self.test or [], interval=self.interval or 0, timeout=self.timeout or 0,
                           start_period=self.start_period or 0, retries=self.retries or 0)


class CreateBody(msgspec.Struct, rename="pascal"):
    """The fields of `POST /containers/create` that husk acts on."""

    image: str = ""
    cmd: StrOrList = None
    entrypoint: StrOrList = None
    env: list[str] | None = None
    working_dir: str = ""
    user: str = ""
    hostname: str = ""
    labels: dict[str, str] | None = None
    stop_signal: str = ""
    stop_timeout: int | None = None
    tty: bool = False
    open_stdin: bool = False
    volumes: dict[str, dict] | None = None
    host_config: HostConfigBody | None = None
    exposed_ports: dict[str, dict] | None = None
    networking_config: NetworkingConfigBody | None = None
    mac_address: str = ""
    healthcheck: HealthcheckBody | None = None


def console_size(value: list[int] | None) -> tuple[int, int] | None:
    """Docker's ConsoleSize `[rows, columns]` (create and exec bodies); None when unset or zero."""
    if not value:
        return None
    if len(value) != 2 or not all(0 <= n <= 0xFFFF for n in value):
        raise InvalidArgument(f"invalid ConsoleSize {value}: [rows, columns], each 0 to 65535")
    return (value[0], value[1]) if all(value) else None


def string_list(value: StrOrList) -> list[str] | None:
    """Docker's StrSlice: a string is one element."""
    if value is None:
        return None
    return [value] if isinstance(value, str) else value


class Namespace(msgspec.Struct):
    """libpod's namespace setting (SpecGenerator's and PodSpecGenerator's `netns`, `userns`)."""

    nsmode: str = ""
    value: str = ""


class PortMappingBody(msgspec.Struct):
    """One of libpod's `portmappings` (see husk.network.ports.libpod_mapping)."""

    container_port: int = 0
    host_port: int = 0
    host_ip: str = ""
    protocol: str = ""
    range: int = 0


def userns_run_options(runtime, userns: str, uidmap=(), gidmap=()):
    """The create's user namespace (Docker's HostConfig.UsernsMode, libpod's userns and idmappings) as
    the CLI's --userns, --uidmap and --gidmap make it: the same checks and messages; None when unset."""
    if not (userns or uidmap or gidmap):
        return None
    from ..engine.userns import run_options
    from ..state.run_options import RunOptions

    return RunOptions(**run_options(lambda: runtime, userns, uidmap, gidmap))


def registry_auth(request: web.Request) -> tuple[str, str] | None:
    """X-Registry-Auth: base64url JSON {username, password}; absent or empty: auth.json's."""
    header = request.headers.get("X-Registry-Auth", "")
    if not header:
        return None
    try:
        document = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except ValueError:
        raise InvalidArgument("malformed X-Registry-Auth header") from None
    if not isinstance(document, dict) or not document.get("username"):
        return None
    return str(document["username"]), str(document.get("password", ""))


def registry_options(request: web.Request):
    """A pull's or push's PullOptions from the query (tlsVerify, platform, allTags) and X-Registry-Auth."""
    from ..storage.pull import Platform, PullOptions

    tls = request.query.get("tlsVerify")
    platform = request.query.get("platform", "")
    return PullOptions(tls_verify=None if tls is None else flag(request, "tlsVerify"),
                       credentials=registry_auth(request),
                       platform=Platform.parse(platform, request.query.get("OS", ""),
                                               request.query.get("Arch", ""), request.query.get("Variant", "")),
                       all_tags=flag(request, "allTags"))
