"""The restart-policy decision (husk.engine.restart.should_restart), podman's rules."""

from __future__ import annotations

import pytest

from husk.state.records import RestartPolicy
from husk.engine.restart import should_restart


@pytest.mark.parametrize("name", ["always", "unless-stopped"])
def test_always_and_unless_stopped_restart_after_any_exit(name):
    policy = RestartPolicy(name=name)
    assert should_restart(policy, 0, 0, False)
    assert should_restart(policy, 1, 100, False)


def test_no_never_restarts():
    assert not should_restart(RestartPolicy(name="no"), 1, 0, False)


def test_on_failure_only_after_a_non_zero_exit():
    policy = RestartPolicy(name="on-failure")
    assert not should_restart(policy, 0, 0, False)
    assert should_restart(policy, 3, 0, False)
    assert should_restart(policy, 137, 1000, False)  # no retry count: unlimited


def test_on_failure_counts_retries():
    policy = RestartPolicy(name="on-failure", max_retries=2)
    assert should_restart(policy, 1, 0, False)
    assert should_restart(policy, 1, 1, False)
    assert not should_restart(policy, 1, 2, False)


@pytest.mark.parametrize("name", ["always", "unless-stopped", "on-failure"])
def test_a_container_the_user_stopped_or_killed_is_never_restarted(name):
    assert not should_restart(RestartPolicy(name=name), 1, 0, True)
