"""The Python API programs import: husk.Runtime and husk.Container, on real runtimes."""

from __future__ import annotations

import pytest

import husk
from husk.define import AlreadyStopped, State, StateInvalid


@pytest.fixture
def runtime(husk_rt):
    return husk_rt.runtime()  # with the installation's husk.conf (its own default network)


def test_create_start_wait_remove(runtime):
    ctr = runtime.create_container("busybox", ["sh", "-c", "exit 7"], name="api", labels={"k": "v"})
    assert ctr.state.state is State.CONFIGURED and str(ctr.state.state) == "created"
    ctr.start()
    assert ctr.wait() == 7
    assert runtime.container("api").state.exit_code == 7
    ctr.remove()
    assert not runtime.container_exists("api")


def test_wait_returns_once_the_store_holds_the_exit(runtime):
    """While another holder of the lock (the exit command's cleanup, a stop)
    has yet to record the exit, wait() waits for it: a fresh lookup right
    after wait() read `running` once (the full suite, under load)."""
    import threading

    from husk.engine import lifecycle
    from husk.state.lock import FileLock
    from husk.testing import wait_until

    ctr = runtime.create_container("busybox", ["sh", "-c", "exit 7"], name="api-held")
    ctr.start()
    seen = {}

    def waiter():
        seen["code"] = ctr.wait()
        seen["stored"] = runtime.container("api-held").state.state

    holder = FileLock(runtime.paths.lock_path(ctr.id))
    holder.acquire()  # its own descriptor: the exit command and the waiter wait for it
    try:
        thread = threading.Thread(target=waiter)
        thread.start()
        wait_until(lambda: lifecycle.read_exit_file(ctr) is not None, 60)
        thread.join(0.5)  # time for a wait() that does not wait for the record to return
    finally:
        holder.release()
    thread.join(60)
    assert seen["code"] == 7 and seen["stored"] in (State.STOPPED, State.EXITED), seen
    ctr.remove()


def test_batch_runs_several_operations_under_one_lock(runtime):
    ctr = runtime.create_container("busybox", ["sleep", "1000"])

    def operations(batched):
        batched.init()
        batched.start()
        batched.sync()
        assert batched.state.state is State.RUNNING
        batched.stop(0)
        with pytest.raises(StateInvalid, match="cannot be removed inside a batch"):
            batched.remove()
        return batched.state.exit_code

    assert ctr.batch(operations) == 137
    assert ctr.state.state is State.EXITED
    with pytest.raises(AlreadyStopped):
        ctr.stop()
    ctr.remove()


def test_wait_covers_a_container_started_later(runtime):
    import threading
    import time

    ctr = runtime.create_container("busybox", ["true"])
    starter = threading.Timer(0.3, lambda: husk.Runtime(runtime.paths.root, runtime.paths.runroot,
                                                         runtime.default_runtime,
                                                         config=runtime.config).container(ctr.id).start())
    starter.start()
    began = time.monotonic()
    assert ctr.wait(interval=0.05) == 0
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


def test_sync_inside_a_batch_refreshes_on_demand(runtime):
    import os
    import time

    ctr = runtime.create_container("busybox", ["sh", "-c", "sleep 0.3; exit 4"])

    def operations(batched):
        batched.start()
        exit_file = runtime.paths.exit_file(batched.id)
        deadline = time.monotonic() + 30
        while not os.path.exists(exit_file) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert batched.state.state is State.RUNNING  # a batch does not re-sync by itself
        batched.sync()
        assert (batched.state.state, batched.state.exit_code) == (State.STOPPED, 4)
        with pytest.raises(StateInvalid, match="cannot be removed inside a batch"):
            batched.remove(force=True)
        return "done"

    assert ctr.batch(operations) == "done"
    assert ctr.wait() == 4
    ctr.remove()
    assert not runtime.container_exists(ctr.id)


def test_refresh_brings_a_container_back_as_it_was(runtime):
    # refresh stops what runs, with the stop timeout: sleep as pid 1 ignores SIGTERM
    running = runtime.create_container("busybox", ["sleep", "1000"], name="running", stop_timeout=1)
    running.start()
    old_pid = running.state.pid
    created = runtime.create_container("busybox", ["sleep", "1000"], name="created")
    created.init()
    paused = runtime.create_container("busybox", ["sleep", "1000"], name="paused", stop_timeout=1)
    paused.start()
    paused.pause()
    exited = runtime.create_container("busybox", ["true"], name="exited")
    exited.start()
    exited.wait()
    for ctr in (running, created, paused, exited):
        ctr.refresh()
    states = {name: runtime.container(name).state for name in ("running", "created", "paused", "exited")}
    assert {name: st.state for name, st in states.items()} == {
        "running": State.RUNNING, "created": State.CREATED, "paused": State.PAUSED, "exited": State.EXITED}
    assert states["running"].pid not in (0, old_pid)
    events = [e.status for e in runtime.events.read(filters={"container": [running.id]})]
    tail = events[events.index("stop"):]
    assert [e for e in tail if e in ("stop", "cleanup", "init", "start", "refresh")] == [
        "stop", "cleanup", "init", "start", "refresh"]
    import time

    time.sleep(1)  # the old monitors' exit commands must leave the new containers alone
    assert runtime.container("running").state.state is State.RUNNING
    assert runtime.container("created").state.state is State.CREATED
    for ctr in (running, created, paused, exited):
        runtime.container(ctr.id).remove(force=True, timeout=0)


def test_refresh_of_a_removed_container(runtime):
    from husk.define import ContainerRemoved

    ctr = runtime.create_container("busybox", ["true"])
    ctr.remove()
    with pytest.raises(ContainerRemoved):
        ctr.refresh()


def test_a_negative_timeout_is_refused_by_every_verb_with_one_message(runtime):
    from husk.define import InvalidArgument

    ctr = runtime.create_container("busybox", ["true"], name="negative")
    for call in (lambda: ctr.stop(-1), lambda: ctr.restart(-1), lambda: ctr.remove(timeout=-1)):
        with pytest.raises(InvalidArgument, match=r"^invalid timeout -1: must be 0 or more seconds$"):
            call()
    assert runtime.container("negative").state.state is State.CONFIGURED
