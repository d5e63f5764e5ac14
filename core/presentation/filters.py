"""Container filters: `ps --filter KEY=VALUE` and the APIs' `filters=` JSON.

One validator and one matcher for the CLI and both APIs; they differ only in
the `status` vocabulary (podman's state names for the CLI and libpod, Docker's
for the Docker API).  Values of one key are OR'ed, keys AND'ed, as in podman
and Docker.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable

from ..define import InvalidArgument, State

if TYPE_CHECKING:
    from ..engine.container import Container

KEYS = ("name", "status", "exited", "label", "id", "ancestor", "health", "pod")
#: `health=`: a running container's check status, or none (no check)
HEALTH_VALUES = ("starting", "healthy", "unhealthy", "none")
# podman's names (str(State)), plus "stopped" and "configured", which it accepts too
PODMAN_STATUSES = frozenset({"created", "initialized", "running", "paused", "stopped", "exited", "removing",
                             "configured"})
DOCKER_STATUSES = frozenset({"created", "restarting", "running", "removing", "paused", "exited", "dead"})
_PODMAN_SAME = {"stopped": "exited", "configured": "created"}


def parse_exited(value: str) -> int:
    """An `exited=` value as Go's strconv.Atoi reads it: ASCII digits with an
    optional sign (str.isdigit() alone would pass '²', which int() refuses)."""
    digits = value[1:] if value[:1] in ("+", "-") else value
    if not (0 < len(digits) <= 18 and digits.isascii() and digits.isdigit()):
        raise InvalidArgument(f"invalid exited filter {value!r}: must be an exit code")
    return int(value)


def container_filter(wanted: dict[str, list[str]],
                     docker_state: Callable[["Container"], str] | None = None) -> Callable[["Container"], bool]:
    """Check `wanted` (InvalidArgument naming the bad key or value) and return
    the predicate.  The Docker API passes its state names' function
    (`docker_state`): `status` then takes Docker's names and `name` may carry
    Docker's leading slash."""
    docker = docker_state is not None
    statuses = DOCKER_STATUSES if docker else PODMAN_STATUSES
    for key, values in wanted.items():
        if key not in KEYS:
            raise InvalidArgument(f"invalid filter {key!r}: use {', '.join(KEYS)}")
        for value in values:
            if key == "status" and value not in statuses:
                raise InvalidArgument(f"invalid status filter {value!r}: use {', '.join(sorted(statuses))}")
            if key == "exited":
                parse_exited(value)
            if key == "health" and value not in HEALTH_VALUES:
                raise InvalidArgument(f"invalid health filter {value!r}: use {', '.join(HEALTH_VALUES)}")
            if key == "name":
                try:
                    re.compile(value)
                except re.error:
                    raise InvalidArgument(f"invalid name filter {value!r}: bad regular expression") from None
    status_of = docker_state or _podman_status

    def one(container: "Container", key: str, value: str) -> bool:
        config, st = container.config, container.state
        if key == "id":
            return config.id.startswith(value)
        if key == "name":
            return re.search(value.lstrip("/") if docker else value, config.name) is not None
        if key == "status":
            return status_of(container) == _PODMAN_SAME.get(value, value)
        if key == "exited":
            return st.state in (State.STOPPED, State.EXITED) and st.exit_code == int(value)
        if key == "health":
            from ..engine.health import is_defined, status

            return (status(container) == value if value != "none"
                    else not is_defined(config.healthcheck))
        if key == "pod":  # its pod's name or id (prefix)
            from ..engine.pods import pod_name

            return bool(config.pod) and (config.pod.startswith(value) or pod_name(container.runtime, config.pod) == value)
        if key == "label":
            label, sep, expected = value.partition("=")
            return label in config.labels and (not sep or config.labels[label] == expected)
        return value in (config.image_name, config.image_ref) or config.image_id.startswith(
            value.removeprefix("sha256:"))  # ancestor

    return lambda container: all(any(one(container, k, v) for v in vs) for k, vs in wanted.items() if vs)


def _podman_status(container: "Container") -> str:
    name = str(container.state.state)
    return _PODMAN_SAME.get(name, name)

