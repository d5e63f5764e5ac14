"""The Python API programs import: husk.Runtime and husk.Container, on real runtimes."""

from __future__ import annotations

import pytest

import husk
from husk.define import AlreadyStopped, State, StateInvalid


@pytest.fixture
def runtime(husk_rt):
    return husk.Runtime(husk_rt.root, husk_rt.runroot, husk_rt.runtime_name)


def test_create_start_wait_remove(runtime):
    ctr = runtime.create_container("busybox", ["sh", "-c", "exit 7"], name="api", labels={"k": "v"})
    assert ctr.state.state is State.CONFIGURED and str(ctr.state.state) == "created"
    ctr.start()
    assert ctr.wait() == 7
    assert runtime.container("api").state.exit_code == 7
    ctr.remove()
    assert not runtime.container_exists("api")


def test_batch_runs_several_operations_under_one_lock(runtime):
    ctr = runtime.create_container("busybox", ["sleep", "1000"])

    def operations(batched):
        batched.init()
        batched.start()
        batched.sync()
        assert batched.state.state is State.RUNNING
        batched.stop_with_timeout(0)
        with pytest.raises(StateInvalid, match="cannot be removed inside a batch"):
            batched.remove()
        return batched.state.exit_code

    assert ctr.batch(operations) == 137
    assert ctr.state.state is State.EXITED
    with pytest.raises(AlreadyStopped):
        ctr.stop()
    ctr.remove()


def test_wait_with_interval_covers_a_container_started_later(runtime):
    import threading
    import time

    ctr = runtime.create_container("busybox", ["true"])
    starter = threading.Timer(0.3, lambda: husk.Runtime(runtime.paths.root, runtime.paths.runroot,
                                                         runtime.default_runtime).container(ctr.id).start())
    starter.start()
    began = time.monotonic()
    assert ctr.wait_with_interval(0.05) == 0
    assert time.monotonic() - began >= 0.3
    starter.join()
    ctr.remove()


def test_sync_asks_the_runtime_and_emits_an_event(runtime):
    ctr = runtime.create_container("busybox", ["sleep", "1000"])
    ctr.start()
    ctr.sync()
    assert ctr.state.state is State.RUNNING
    events = [e.status for e in runtime.events.read(filters={"container": [ctr.id]})]
    assert events[-1] == "sync"
    ctr.remove(force=True, timeout=0)
