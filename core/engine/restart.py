"""Restart policies: whether a container that has just exited is started again.

The decision is a pure function of the policy and the exit, so it is tested
without containers; :func:`husk.engine.lifecycle.restart_by_policy` applies it when
the monitor's exit command cleans a container up.  The rules are podman's:

- `no` never restarts; `always` and `unless-stopped` always do (podman treats
  `unless-stopped` exactly as `always`: the difference in Docker is what its
  daemon does at boot, and husk, like podman, has no daemon);
- `on-failure` restarts after a non-zero exit while restarts are left
  (`on-failure:N` allows N restarts in a row; no N, or 0, is unlimited);
- a container the user stopped or killed (`stop`, `kill`, `rm -f`) is never
  restarted, whatever its policy -- podman's StoppedByUser, set by both.
"""

from __future__ import annotations

from ..define import InvalidArgument
from ..state.records import RestartPolicy

POLICIES = ("no", "on-failure", "always", "unless-stopped")


def should_restart(policy: RestartPolicy, exit_code: int, restart_count: int, stopped_by_user: bool) -> bool:
    """Whether a container that exited with `exit_code`, after `restart_count`
    restarts by its policy, is to be started again."""
    if stopped_by_user or policy.name not in ("on-failure", "always", "unless-stopped"):
        return False
    if policy.name == "on-failure":
        if exit_code == 0:
            return False
        return policy.max_retries <= 0 or restart_count < policy.max_retries
    return True


def parse_restart_policy(value: str) -> RestartPolicy:
    """`--restart`'s value (no, on-failure[:N], always, unless-stopped) as a record."""
    name, _, retries = value.partition(":")
    if name not in POLICIES:
        raise InvalidArgument(f"invalid restart policy {value!r}: use no, on-failure[:N], always or unless-stopped")
    if retries and (name != "on-failure" or not (retries.isascii() and retries.isdigit() and len(retries) <= 9)):
        raise InvalidArgument(f"invalid restart policy {value!r}: only on-failure takes a retry count")
    return RestartPolicy(name=name, max_retries=int(retries or 0))
