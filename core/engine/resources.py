"""Resource limits (memory, CPU, pids): the values users type, checked once,
and their two OCI forms -- the spec's ``linux.resources`` at create, and the
document `runc/crun update --resources` takes for a container in the runtime.

One vocabulary everywhere: a limit of 0 means "none" (the kernel's default),
so a record without limits and a record with limits removed look the same.
Values are never clamped: a value out of range is one InvalidArgument naming it.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..define import InvalidArgument
from ..state.records import Resources

#: the kernel refuses less, and a container needs some (Docker's and podman's floor)
MIN_MEMORY = 6 * 1024 * 1024
#: the CFS period husk uses for --cpus (the kernel's default, 100 ms)
CPU_PERIOD = 100_000
#: CFS quota below 1 ms is refused by the kernel: --cpus of at least 0.01
MIN_NANO_CPUS = 10_000_000
#: cgroup v1 cpu.shares' range (0 means the default, 1024)
MIN_CPU_SHARES, MAX_CPU_SHARES = 2, 262_144

_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?(?:i?b)?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_memory(text: str | int) -> int:
    """Bytes from podman's `--memory` syntax: a number with an optional binary
    unit (b, k, m, g; `64m`, `1.5g`, `512MiB`).  0 means no limit."""
    if isinstance(text, int) and not isinstance(text, bool):
        return check_memory(text)
    match = _SIZE_RE.match(str(text).strip())
    if not match:
        raise InvalidArgument(f"invalid memory value {text!r}: use a number with an optional unit "
                              "(b, k, m, g), e.g. 64m")
    number, unit = match.groups()
    return check_memory(int(float(number) * _UNITS[(unit or "").lower()]))


def check_memory(value: int) -> int:
    if value < 0:
        raise InvalidArgument(f"invalid memory limit {value}: must be 0 (no limit) or more bytes")
    if 0 < value < MIN_MEMORY:
        raise InvalidArgument(f"invalid memory limit {value}: minimum memory limit allowed is 6MB")
    return value


def parse_cpus(text: str | float) -> int:
    """Nano-CPUs (1e-9 CPU) from `--cpus` (`1.5`: one and a half CPUs).  0: no limit."""
    try:
        cpus = float(text)
    except (TypeError, ValueError):
        raise InvalidArgument(f"invalid --cpus value {text!r}: use a number of CPUs such as 0.5") from None
    if cpus != cpus or cpus in (float("inf"), float("-inf")):
        raise InvalidArgument(f"invalid --cpus value {text!r}: use a number of CPUs such as 0.5")
    return check_nano_cpus(round(cpus * 1e9))


def check_nano_cpus(value: int) -> int:
    available = os.cpu_count() or 1
    if value != 0 and not MIN_NANO_CPUS <= value <= available * 1_000_000_000:
        raise InvalidArgument(f"invalid CPU limit {value / 1e9:g}: the range of CPUs is from 0.01 to "
                              f"{available}.00, as there are only {available} CPUs available")
    return value


def check_cpu_shares(value: int) -> int:
    if value != 0 and not MIN_CPU_SHARES <= value <= MAX_CPU_SHARES:
        raise InvalidArgument(f"invalid CPU shares {value}: must be 0 (the default) or "
                              f"{MIN_CPU_SHARES} to {MAX_CPU_SHARES}")
    return value


def check_pids_limit(value: int) -> int:
    """The pids limit as stored: -1 and 0 both mean unlimited (stored as 0)."""
    if value < -1:
        raise InvalidArgument(f"invalid pids limit {value}: must be -1 or 0 (unlimited) or more")
    return max(value, 0)


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            return int(str(value), 10)
        except ValueError:
            raise InvalidArgument(f"invalid {what} {value!r}: not an integer") from None
    return value


def limits(base: Resources | None = None, *, memory: str | int | None = None, cpus: str | float | None = None,
           nano_cpus: int | None = None, cpu_shares: int | str | None = None,
           pids_limit: int | str | None = None) -> Resources:
    """`base` (default: no limits but the default pids limit) with the given
    values changed, each checked; None leaves a value as it is.  `cpus` and
    `nano_cpus` are the same limit in two units (flags, Docker's NanoCpus)."""
    result = Resources() if base is None else Resources(**{f: getattr(base, f) for f in Resources.__struct_fields__})
    if memory is not None:
        result.memory = parse_memory(memory)
    if cpus is not None and nano_cpus is not None:
        raise InvalidArgument("give the CPU limit once: cpus or nano_cpus")
    if cpus is not None:
        result.nano_cpus = parse_cpus(cpus)
    if nano_cpus is not None:
        result.nano_cpus = check_nano_cpus(_integer(nano_cpus, "CPU limit"))
    if cpu_shares is not None:
        result.cpu_shares = check_cpu_shares(_integer(cpu_shares, "CPU shares"))
    if pids_limit is not None:
        result.pids_limit = check_pids_limit(_integer(pids_limit, "pids limit"))
    return result


def oci_resources(resources: Resources) -> dict[str, Any]:
    """The limits part of the spec's ``linux.resources`` (absent: no limit)."""
    document: dict[str, Any] = {}
    if resources.memory:
        document["memory"] = {"limit": resources.memory}
    cpu = {}
    if resources.cpu_shares:
        cpu["shares"] = resources.cpu_shares
    if resources.nano_cpus:
        cpu.update(quota=resources.nano_cpus * CPU_PERIOD // 1_000_000_000, period=CPU_PERIOD)
    if cpu:
        document["cpu"] = cpu
    if resources.pids_limit:
        document["pids"] = {"limit": resources.pids_limit}
    return document


def update_document(resources: Resources) -> dict[str, Any]:
    """What `runc/crun update --resources` takes to make the live cgroup match
    `resources`: every value explicit, since the runtimes read 0 as "leave as
    it is" -- no limit is -1 (the cgroup's "max"), default shares are 1024."""
    return {
        "memory": {"limit": resources.memory or -1},
        "cpu": {"shares": resources.cpu_shares or 1024,
                "quota": resources.nano_cpus * CPU_PERIOD // 1_000_000_000 if resources.nano_cpus else -1,
                "period": CPU_PERIOD},
        "pids": {"limit": resources.pids_limit or -1},
    }
