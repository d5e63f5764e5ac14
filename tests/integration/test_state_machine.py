"""Random sequences of operations on a real crun container against a model of the
seed's state table (podman's Container API): after each step, husk's state and
the error type (or its absence) must be the model's.

The model keeps one container at a time.  `stopped` and `exited` are one model
state ("has exited"): which of the two husk shows depends on whether the
monitor's exit command has cleaned up yet, which the API leaves open too.
"""

from __future__ import annotations

import shutil
import signal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from husk.define import AlreadyRunning, AlreadyStopped, ContainerRunning, State, StateInvalid
from husk.testing import make_env

GONE = "gone"  # no container: before create, after rm
EXITED = "exited"  # the model's single state for husk's stopped and exited
SIGKILLED = 128 + signal.SIGKILL


def _model_state(state: State) -> str:
    return EXITED if state in (State.STOPPED, State.EXITED) else state.value


class ContainerMachine(RuleBasedStateMachine):
    env = None  # set by the test: one husk installation for every example

    def __init__(self) -> None:
        super().__init__()
        self.runtime = self.env.runtime()
        self.ctr = None
        self.model = GONE
        self.exit_code = 0

    def _expect(self, operation, error, new_state):
        """Run `operation`; it must raise `error` (a type, or None for success),
        and then the model moves to `new_state` (unchanged on an error)."""
        if error is None:
            operation()
            self.model = new_state
        else:
            with pytest.raises(error):
                operation()

    @precondition(lambda self: self.model == GONE)
    @rule()
    def create(self):
        self.ctr = self.runtime.create_container("busybox", ["sleep", "1000"], stop_timeout=0)
        self.model = State.CONFIGURED.value

    @precondition(lambda self: self.model != GONE)
    @rule()
    def init(self):
        allowed = self.model in (State.CONFIGURED.value, EXITED)
        self._expect(self.ctr.init, None if allowed else StateInvalid, State.CREATED.value)

    @precondition(lambda self: self.model != GONE)
    @rule()
    def start(self):
        if self.model == State.RUNNING.value:
            self._expect(self.ctr.start, AlreadyRunning, None)
        elif self.model == State.PAUSED.value:  # podman's: not "already running", a state error
            with pytest.raises(StateInvalid) as refused:
                self.ctr.start()
            assert not isinstance(refused.value, AlreadyRunning)
        else:
            self._expect(self.ctr.start, None, State.RUNNING.value)

    @precondition(lambda self: self.model != GONE)
    @rule()
    def stop(self):
        if self.model == EXITED:
            self._expect(lambda: self.ctr.stop(0), AlreadyStopped, None)
        elif self.model == State.CONFIGURED.value:
            self._expect(lambda: self.ctr.stop(0), StateInvalid, None)
        else:
            self._expect(lambda: self.ctr.stop(0), None, EXITED)
            self.exit_code = SIGKILLED

    @precondition(lambda self: self.model != GONE)
    @rule()
    def kill(self):
        if self.model in (State.RUNNING.value, State.PAUSED.value):
            self._expect(lambda: self.ctr.kill(signal.SIGKILL), None, self.model)
            assert self.ctr.wait() == SIGKILLED  # kill does not wait; the model's next state is an exit
            self.model, self.exit_code = EXITED, SIGKILLED
        else:
            self._expect(lambda: self.ctr.kill(signal.SIGKILL), StateInvalid, None)

    @precondition(lambda self: self.model == EXITED)
    @rule()
    def wait(self):
        assert self.ctr.wait(interval=0.05) == self.exit_code

    @precondition(lambda self: self.model != GONE)
    @rule()
    def pause(self):
        allowed = self.model == State.RUNNING.value
        self._expect(self.ctr.pause, None if allowed else StateInvalid, State.PAUSED.value)

    @precondition(lambda self: self.model != GONE)
    @rule()
    def unpause(self):
        allowed = self.model == State.PAUSED.value
        self._expect(self.ctr.unpause, None if allowed else StateInvalid, State.RUNNING.value)

    @precondition(lambda self: self.model != GONE)
    @rule()
    def remove(self):
        if self.model in (State.RUNNING.value, State.PAUSED.value):
            self._expect(self.ctr.remove, ContainerRunning, None)
        else:
            container_id = self.ctr.id
            self._expect(self.ctr.remove, None, GONE)
            assert not self.runtime.container_exists(container_id)
            self.ctr = None

    @invariant()
    def husk_agrees_with_the_model(self):
        if self.ctr is None:
            return
        fresh = self.runtime.container(self.ctr.id)
        fresh.sync_if_unlocked()
        assert _model_state(fresh.state.state) == self.model
        if self.model == EXITED:
            assert fresh.state.exit_code == self.exit_code

    def teardown(self):
        if self.ctr is not None:
            self.runtime.container(self.ctr.id).remove(force=True, timeout=0)


def test_random_operation_sequences_follow_the_state_table(busybox_tar):
    env = make_env(busybox_tar, "crun")
    ContainerMachine.env = env
    try:
        run_state_machine_as_test(ContainerMachine, settings=settings(
            max_examples=50, stateful_step_count=15, deadline=None,
            suppress_health_check=list(HealthCheck)))
    finally:
        env.cleanup()
        shutil.rmtree(__import__("os").path.dirname(env.root), ignore_errors=True)
