"""Health checks, as podman's: the check's configuration (the `--health-*` flags
or the image's HEALTHCHECK), one check (`husk healthcheck run`), its status and
log, and what `--health-on-failure` does to an unhealthy container.

podman schedules checks with systemd timers; husk's container monitor does it:
every interval it runs `husk healthcheck run ID` as a child process (see
husk.monitor), so the monitor imports nothing of husk.  A check is an exec
session killed at the check's timeout; the container lock is held only to
record the result (never while the command runs), and a result that arrives
after the container was stopped or restarted is dropped.
"""

from __future__ import annotations

import threading
from _signal import SIGKILL  # not the signal module: its enums are ~2.7M instructions of a ps or inspect
import time
from typing import TYPE_CHECKING

from ..define import HuskError, InvalidArgument, State
from ..formats.timestamps import parse_duration_ns
from ..state.records import Health, Healthcheck, HealthResult

if TYPE_CHECKING:
    from .container import Container
    from ..state.records import ImageRecord

NS = 1_000_000_000
DEFAULT_INTERVAL = 30 * NS
DEFAULT_TIMEOUT = 30 * NS
DEFAULT_RETRIES = 3
ON_FAILURE_ACTIONS = ("none", "kill", "restart", "stop")
#: the actions as podman 4.3's libpod API numbers them (SpecGenerator.health_check_on_failure_action; none is 0)
ON_FAILURE_NUMBERS = {"none": 0, "kill": 2, "restart": 3, "stop": 4}
STATUSES = ("starting", "healthy", "unhealthy")
#: podman keeps the last five results, each with at most 500 bytes of output
MAX_LOG = 5
MAX_OUTPUT = 500
#: after a timed-out check is killed, how long its output may take to end
KILL_GRACE_SECONDS = 10.0


# -- configuration --------------------------------------------------------------------------
def from_flags(cmd: str | None, *, interval: str | None = None, retries: int | None = None,
               start_period: str | None = None, timeout: str | None = None, on_failure: str | None = None,
               disabled: bool = False) -> dict:
    """The run/create flags as overrides of the image's check: a dict of the
    Healthcheck fields given (``test`` ["NONE"] disables the image's check).
    The values are checked now, with podman's messages."""
    if disabled and cmd:
        raise InvalidArgument("cannot specify both --no-healthcheck and --health-cmd")
    given: dict = {}
    if disabled:
        return {"test": ["NONE"]}
    if cmd is not None:
        given["test"] = parse_test(cmd)
    if interval is not None:
        given["interval"] = _duration("interval", "0" if interval == "disable" else interval)
        if given["interval"] < 0:
            raise InvalidArgument("healthcheck-interval must be 0 seconds or greater")
    if retries is not None:
        if retries < 1:
            raise InvalidArgument("healthcheck-retries must be greater than 0")
        given["retries"] = retries
    if timeout is not None:
        given["timeout"] = _duration("timeout", timeout)
        if given["timeout"] < NS:
            raise InvalidArgument("healthcheck-timeout must be at least 1 second")
    if start_period is not None:
        given["start_period"] = _duration("start-period", start_period)
        if given["start_period"] < 0:
            raise InvalidArgument("healthcheck-start-period must be 0 seconds or greater")
    if on_failure is not None:
        if on_failure not in ON_FAILURE_ACTIONS:
            raise InvalidArgument(f'invalid on-failure action "{on_failure}" for health check: supported actions '
                                  f'are {",".join(ON_FAILURE_ACTIONS)}')
        given["on_failure"] = on_failure
    return given


def parse_test(cmd: str) -> list[str]:
    """`--health-cmd`: a JSON array is the exec form (["CMD", ...] or ["CMD-SHELL", "..."]
    as written; a bare array gets "CMD"), anything else a shell command; "none" disables."""
    import json  # here, not at the top: ps and inspect of a running container read the status only

    try:
        words = json.loads(cmd)
    except ValueError:
        words = None
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        if cmd.strip().lower() == "none":
            return ["NONE"]
        if not cmd.strip():
            raise InvalidArgument("must define a healthcheck command for all healthchecks")
        return ["CMD-SHELL", cmd]
    if not words:
        raise InvalidArgument("must define a healthcheck command for all healthchecks")
    if words[0] in ("CMD", "CMD-SHELL", "NONE"):
        return words
    return ["CMD", *words]


def from_config(test: list[str], *, interval: int = 0, timeout: int = 0, start_period: int = 0,
                retries: int = 0) -> dict:
    """Docker's HealthConfig (the API's create body) as overrides like
    :func:`from_flags`'s: an empty Test keeps the image's, zeros the defaults."""
    if any(value < 0 for value in (interval, timeout, start_period, retries)):
        raise InvalidArgument("Healthcheck: Interval, Timeout, StartPeriod and Retries must be 0 or more")
    if 0 < timeout < NS:
        raise InvalidArgument("healthcheck-timeout must be at least 1 second")
    given = {key: value for key, value in (("interval", interval), ("timeout", timeout),
                                           ("start_period", start_period), ("retries", retries)) if value}
    if test:
        if test[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise InvalidArgument(f"Healthcheck: unknown Test type {test[0]!r}: use CMD, CMD-SHELL or NONE")
        given["test"] = list(test)
    return given


def _duration(flag: str, text: str) -> int:
    try:
        return parse_duration_ns(text)
    except ValueError:
        raise InvalidArgument(f'invalid healthcheck-{flag}: time: invalid duration "{text}"') from None


def from_image(image: "ImageRecord") -> Healthcheck | None:
    """The image config's Healthcheck (zero times and retries mean the defaults), if any.
    Read with msgspec (loaded for the records): json's import was ~1 ms of every create."""
    import msgspec

    try:
        document = msgspec.json.decode(image.config_json or "{}").get("config") or {}
        config = document.get("Healthcheck") or {}
        test = [str(word) for word in config.get("Test") or []]
        return Healthcheck(test=test, interval=int(config.get("Interval") or DEFAULT_INTERVAL),
                           timeout=int(config.get("Timeout") or DEFAULT_TIMEOUT),
                           start_period=int(config.get("StartPeriod") or 0),
                           retries=int(config.get("Retries") or DEFAULT_RETRIES)) if test else None
    except (ValueError, TypeError, AttributeError):
        return None  # a config we cannot read has no check we could run


def resolve(given: dict, image: "ImageRecord") -> Healthcheck | None:
    """The container's check: the flags' command or else the image's, with the
    flags' settings over the image's; None when there is none or it is disabled."""
    base = from_image(image)
    if "test" in given:
        base = Healthcheck(test=given["test"])
    if base is None or not is_defined(base):
        return None
    import msgspec

    return msgspec.structs.replace(base, **{key: value for key, value in given.items() if key != "test"})


def is_defined(check: Healthcheck | None) -> bool:
    return check is not None and bool(check.test) and check.test[0] not in ("", "NONE")


def command(check: Healthcheck) -> list[str]:
    """The argv an exec runs for the check (podman runs CMD-SHELL with /bin/sh -c)."""
    if check.test[0] == "CMD":
        return list(check.test[1:])
    if check.test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(check.test[1:])]
    return list(check.test)


# -- one check ------------------------------------------------------------------------------
def run(container: "Container") -> bool:
    """Run the check of a running `container` once, record it and act on an
    unhealthy status; returns whether the check passed.

    :raises HuskError: the container is not running or has no check (podman's messages)"""
    if container.state.state is not State.RUNNING:
        raise HuskError(f"container {container.id} is not running")
    check = container.config.healthcheck
    argv = command(check) if is_defined(check) else []
    if not argv or not argv[0]:
        raise HuskError(f"container {container.id} has no defined healthcheck")
    started_at = container.state.started_at
    start = time.time()
    code, output = _execute(container, argv, check.timeout / NS)
    end = time.time()
    if code == -1:
        output = f"healthcheck command exceeded timeout of {_seconds(check.timeout)}"
    result = HealthResult(start=start, end=end, exit_code=code, output=output[:MAX_OUTPUT])
    status = _record(container, started_at, result)
    if status == "unhealthy" and check.on_failure != "none":
        _act(container, check.on_failure)
    return code == 0


def _seconds(ns: int) -> str:
    from ..formats.gofmt import go_duration

    return go_duration(ns)


def _execute(container: "Container", argv: list[str], timeout: float) -> tuple[int, str]:
    """(exit code, output) of `argv` run in the container; -1 when it was killed at `timeout`.
    A command the runtime cannot start fails the check with code 1, as in podman."""
    try:
        process = container.exec_start(argv)
    except HuskError as exc:
        return 1, str(exc)
    output = bytearray()

    def pump() -> None:
        for _, data in process.client:
            output.extend(data)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    reader.join(timeout)
    timed_out = reader.is_alive()
    if timed_out:
        _kill_tree(container, process.session.pid)
        reader.join(KILL_GRACE_SECONDS)
    code = process.wait()
    text = output.decode(errors="replace").rstrip("\n")
    return (-1 if timed_out else code), text


def _kill_tree(container: "Container", pid: int) -> None:
    """SIGKILL an exec'd process and its descendants (only processes of this container)."""
    import os

    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as handle:
                todo += [int(child) for child in handle.read().split()]
        except (OSError, ValueError):
            pass
    for target in pids:
        try:
            with open(f"/proc/{target}/cgroup") as handle:
                if container.id in handle.read():
                    os.kill(target, SIGKILL)
        except OSError:
            pass


def _record(container: "Container", started_at: float, result: HealthResult) -> str:
    """Add `result` to the container's health (under its lock) and emit
    `health_status`; returns the status ("" when the container has meanwhile
    stopped or restarted: the result is old news then)."""
    with container._locked(sync=False):
        st = container.state
        if st.state is not State.RUNNING or st.started_at != started_at:
            return ""
        health = st.health = updated(st.health or Health(), result, container.config.healthcheck, started_at)
        container.save()
        container.runtime.emit("health_status", container, health_status=health.status)
        return health.status


def updated(health: Health, result: HealthResult, check: Healthcheck, started_at: float) -> Health:
    """`health` after `result`: a pass makes it healthy; a failure counts unless
    it is in the start period with no pass yet (Docker's rule), and `retries`
    failures in a row make it unhealthy; the log keeps the last five."""
    in_start_period = not health.succeeded and result.start < started_at + check.start_period / NS
    if result.exit_code == 0:
        health.status, health.failing_streak, health.succeeded = "healthy", 0, True
    elif not in_start_period:
        health.failing_streak += 1
        if health.failing_streak >= check.retries:
            health.status = "unhealthy"
    health.log = [*health.log, result][-MAX_LOG:]
    return health


def _act(container: "Container", action: str) -> None:
    """--health-on-failure: kill, stop and restart as the user's kill, stop and
    restart (a restart here counts in RestartCount, as a restart by policy does)."""
    if action == "kill":
        container.kill(SIGKILL)
    elif action == "stop":
        container.stop()
    elif action == "restart":
        def restart(batched: "Container") -> None:
            if batched.state.state is State.RUNNING:
                count = batched.state.restart_count
                batched.restart()
                batched.state.restart_count = count + 1
                batched.save()

        container.batch(restart)


# -- documents ------------------------------------------------------------------------------
def config_document(check: Healthcheck | None) -> dict | None:
    """Config.Healthcheck as podman and Docker show it (times in nanoseconds)."""
    if check is None:
        return None
    document: dict = {"Test": list(check.test)}
    for key, value in (("StartPeriod", check.start_period), ("Interval", check.interval),
                       ("Timeout", check.timeout), ("Retries", check.retries)):
        if value:
            document[key] = value
    return document


def state_document(health: Health | None) -> dict:
    """State.Health: Status, FailingStreak and the Log of the last results."""
    from ..formats.timestamps import rfc3339

    if health is None:
        return {"Status": "", "FailingStreak": 0, "Log": None}
    return {"Status": health.status, "FailingStreak": health.failing_streak,
            "Log": [{"Start": rfc3339(entry.start), "End": rfc3339(entry.end), "ExitCode": entry.exit_code,
                     "Output": entry.output} for entry in health.log] or None}


def status(container: "Container") -> str:
    """The health shown by ps and its filter: starting, healthy, unhealthy, or
    "" for a container without a check or not running."""
    if container.state.state is not State.RUNNING or not is_defined(container.config.healthcheck):
        return ""
    return container.state.health.status if container.state.health else "starting"
