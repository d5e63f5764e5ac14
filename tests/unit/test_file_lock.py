"""The per-container lock shared by the threads of one process (a build's stage
thread and the thread that kills its RUN container when the build is cancelled):
re-entrant for the thread that holds it, exclusive against the others, and its
descriptor closed once, by its holder."""

import os
import threading

from husk.state.lock import FileLock


def _in_thread(function):
    result = []
    thread = threading.Thread(target=lambda: result.append(function()))
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    return result[0]


def test_another_thread_does_not_get_a_held_lock(tmp_path):
    lock = FileLock(str(tmp_path / "c.lock"))
    assert lock.acquire() and lock.acquire()  # re-entrant for this thread
    assert _in_thread(lambda: lock.acquire(blocking=False)) is False
    _in_thread(lock.release)  # a thread that does not hold it releases nothing
    lock.release()
    assert _in_thread(lambda: lock.acquire(blocking=False)) is False
    lock.release()
    assert _in_thread(lambda: lock.acquire(blocking=False)) is True  # free now; that thread holds it
    assert lock.acquire(blocking=False) is False


def test_a_waiting_thread_gets_the_lock_with_a_descriptor_of_its_own(tmp_path):
    """The waiter blocks until the holder's release, then holds and releases it
    itself; no descriptor is closed twice or left open."""
    lock = FileLock(str(tmp_path / "c.lock"))
    fds_before = set(os.listdir("/proc/self/fd"))
    lock.acquire()
    got = threading.Event()
    errors = []

    def waiter() -> None:
        try:
            with lock:
                got.set()
        except BaseException as exc:  # an EBADF here is the bug
            errors.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not got.wait(0.2)  # still held by this thread
    lock.release()
    thread.join(60)
    assert got.is_set() and not errors
    assert not lock.held
    assert lock.acquire(blocking=False)
    lock.release()
    assert set(os.listdir("/proc/self/fd")) == fds_before


def test_held_says_whether_this_thread_holds_it(tmp_path):
    lock = FileLock(str(tmp_path / "c.lock"))
    assert not lock.held
    with lock:
        assert lock.held
        assert _in_thread(lambda: lock.held) is False  # held, but by another thread
    assert not lock.held
