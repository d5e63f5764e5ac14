"""Seccomp profiles: Docker's JSON format, converted to the OCI spec's `linux.seccomp`.

The default is podman's own profile, /usr/share/containers/seccomp.json from
Debian's golang-github-containers-common.  A profile in that format lists rules
for every architecture and capability set; the runtime wants only the rules
that apply to this container, so :func:`oci_seccomp` keeps, as podman does,

- the architectures of the host's entry in ``archMap`` (x86_64 with x86 and x32),
- each rule whose ``includes``/``excludes`` match the host's architecture (Go's
  names: amd64, arm64, ...), the container's bounding capabilities and the
  running kernel (``minKernel``),

and writes fields the way podman writes them (``valueTwo`` and ``errnoRet``
only when set), so a husk container gets the same filter as a podman one.

A profile is read once per process and file version (path, mtime, size):
reading and checking podman's 16 KB profile costs a fraction of a
millisecond, the conversion less, so no cache file is kept.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from ..define import InvalidArgument

DEFAULT_PROFILE = "/usr/share/containers/seccomp.json"
#: the image label that `--seccomp-policy=image` reads a profile from (podman's)
IMAGE_LABEL = "io.containers.seccomp.profile"
POLICIES = ("default", "image")

#: uname's machine -> Go's GOARCH, the names a profile's ``arches`` use
_GOARCH = {
    "x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm", "i686": "386", "i386": "386",
    "s390x": "s390x", "ppc64le": "ppc64le", "riscv64": "riscv64", "mips64": "mips64", "mips64el": "mips64le",
}
#: Go's GOARCH -> libseccomp's architecture name
_SCMP_ARCH = {
    "amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM", "386": "SCMP_ARCH_X86",
    "s390x": "SCMP_ARCH_S390X", "ppc64le": "SCMP_ARCH_PPC64LE", "riscv64": "SCMP_ARCH_RISCV64",
    "mips64": "SCMP_ARCH_MIPS64", "mips64le": "SCMP_ARCH_MIPSEL64",
}
_ACTIONS = frozenset({"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
                      "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"})
_OPERATORS = frozenset({"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                        "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"})


def host_arch() -> str:
    """This machine's architecture as Go (and so a profile) names it."""
    machine = os.uname().machine
    return _GOARCH.get(machine, machine)


def oci_seccomp(source: str, capabilities: list[str], *, text: str | None = None,
                arch: str | None = None, kernel: tuple[int, int] | None = None) -> dict[str, Any]:
    """The OCI `linux.seccomp` for a container with bounding set `capabilities`.

    :param source: the profile's path (read unless `text` is given), named in errors.
    :param text: the profile itself (an image label's value).
    :param arch: Go's name for the architecture; the host's by default.
    :param kernel: (major, minor) of the kernel; the running one by default.
    :raises InvalidArgument: the file is missing or unreadable, or not a profile,
        with podman's wording.
    """
    profile = _parse(source, text) if text is not None else _load(source)
    arch = arch or host_arch()
    kernel = kernel or _running_kernel()
    caps = frozenset(capabilities)
    result: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        result["defaultErrnoRet"] = profile["defaultErrnoRet"]
    architectures = _architectures(profile, arch)
    if architectures:
        result["architectures"] = architectures
    if profile.get("flags"):
        result["flags"] = list(profile["flags"])
    result["syscalls"] = [_rule(call) for call in profile.get("syscalls") or ()
                          if _applies(call, arch, caps, kernel)]
    return result


def _load(path: str) -> dict[str, Any]:
    try:
        info = os.stat(path)
    except OSError as error:
        raise InvalidArgument(f"opening seccomp profile failed: open {path}: {_reason(error)}") from None
    return _load_version(path, info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=8)
def _load_version(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    """One version of a profile file, read and checked once per process."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = _reason(error) if isinstance(error, OSError) else "not UTF-8 text"
        raise InvalidArgument(f"opening seccomp profile failed: open {path}: {reason}") from None
    return _parse(path, text)


def _parse(source: str, text: str) -> dict[str, Any]:
    """The profile in `text`, checked field by field (a profile is input, and a
    wrong one must fail here, in one line, not in the runtime)."""
    def fail(reason: str) -> InvalidArgument:
        return InvalidArgument(f"loading seccomp profile ({source}) failed: decoding seccomp profile failed: {reason}")

    import msgspec  # loaded with the records already: json's import is ~1 ms more of a start or a restore

    try:
        profile = msgspec.json.decode(text)
    except ValueError:  # json's reason names the line and column (msgspec's, a byte offset)
        import json

        try:
            json.loads(text)
        except ValueError as error:
            raise fail(str(error)) from None
        raise fail("not strict JSON") from None  # NaN or Infinity, which json alone takes
    if not isinstance(profile, dict):
        raise fail("not a JSON object")
    if profile.get("defaultAction") not in _ACTIONS:
        raise fail(f"unknown defaultAction {profile.get('defaultAction')!r}")
    if profile.get("architectures") and profile.get("archMap"):
        raise fail("both architectures and archMap specified")
    _check_errno(profile.get("defaultErrnoRet"), "defaultErrnoRet", fail)
    for entry in profile.get("archMap") or ():
        if not isinstance(entry, dict) or not isinstance(entry.get("architecture"), str) \
                or not _strings(entry.get("subArchitectures") or []):
            raise fail("malformed archMap entry")
    if not _strings(profile.get("architectures") or []) or not _strings(profile.get("flags") or []):
        raise fail("architectures and flags must be lists of names")
    calls = profile.get("syscalls") or []
    if not isinstance(calls, list):
        raise fail("syscalls must be a list")
    for call in calls:
        _check_call(call, fail)
    return profile


def _check_call(call: Any, fail) -> None:
    if not isinstance(call, dict):
        raise fail("a syscall rule must be an object")
    names = call.get("names") or []
    if call.get("name") and names:
        raise fail("use either 'name' or 'names'")
    if not _strings(names) or not isinstance(call.get("name", ""), str) or not (names or call.get("name")):
        raise fail("a syscall rule needs names")
    if call.get("action") not in _ACTIONS:
        raise fail(f"unknown action {call.get('action')!r}")
    _check_errno(call.get("errnoRet"), "errnoRet", fail)
    args = call.get("args") or []
    if not isinstance(args, list):
        raise fail("args must be a list")
    for arg in args:
        if not isinstance(arg, dict) or arg.get("op") not in _OPERATORS or not all(
                isinstance(arg.get(key, 0), int) and 0 <= arg.get(key, 0) < 2 ** 64
                for key in ("index", "value", "valueTwo")) or arg.get("index", 0) > 5:
            raise fail(f"malformed argument rule {arg!r}")
    for key in ("includes", "excludes"):
        filters = call.get(key) or {}
        if not isinstance(filters, dict) or not _strings(filters.get("arches") or []) \
                or not _strings(filters.get("caps") or []) or not isinstance(filters.get("minKernel", ""), str):
            raise fail(f"malformed {key}")


def _check_errno(value: Any, name: str, fail) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 4096):
        raise fail(f"{name} must be an errno number")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _architectures(profile: dict[str, Any], arch: str) -> list[str]:
    if profile.get("architectures"):
        return list(profile["architectures"])
    native = _SCMP_ARCH.get(arch, "")
    for entry in profile.get("archMap") or ():
        if entry["architecture"] == native:
            return [native, *(entry.get("subArchitectures") or ())]
    return []


def _applies(call: dict[str, Any], arch: str, caps: frozenset[str], kernel: tuple[int, int]) -> bool:
    includes = call.get("includes") or {}
    excludes = call.get("excludes") or {}
    if arch in (excludes.get("arches") or ()):
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if any(cap in caps for cap in excludes.get("caps") or ()):
        return False
    if not all(cap in caps for cap in includes.get("caps") or ()):
        return False
    minimum = includes.get("minKernel")
    return not minimum or kernel >= _version(minimum)


def _rule(call: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = {"names": list(call.get("names") or [call["name"]]), "action": call["action"]}
    if call.get("errnoRet") is not None:
        rule["errnoRet"] = call["errnoRet"]
    args = []
    for arg in call.get("args") or ():
        entry = {"index": arg.get("index", 0), "value": arg.get("value", 0)}
        if arg.get("valueTwo"):
            entry["valueTwo"] = arg["valueTwo"]
        entry["op"] = arg["op"]
        args.append(entry)
    if args:
        rule["args"] = args
    return rule


def _version(text: str) -> tuple[int, int]:
    parts = []
    for part in text.split(".")[:2]:
        digits = "".join(char for char in part if char.isdigit()) if part[:1].isdigit() else ""
        parts.append(int(digits or 0))
    return (parts + [0, 0])[0], (parts + [0, 0])[1]


@functools.cache
def _running_kernel() -> tuple[int, int]:
    return _version(os.uname().release.split("-")[0])


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()
