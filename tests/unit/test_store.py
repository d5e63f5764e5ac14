"""The LMDB store: typed records, names, prefixes, corrupt records, mount counts."""

from __future__ import annotations

import multiprocessing

import pytest

from husk.define import CorruptRecord, InvalidArgument, NameInUse, NoSuchContainer
from husk.state.records import ContainerConfig, ContainerState, ImageRecord
from husk.state.store import Store


def _config(cid: str, name: str) -> ContainerConfig:
    return ContainerConfig(id=cid, name=name, created=1.0, image_id="i" * 64, image_name="busybox", runtime="crun")


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "state"))


def test_round_trip_and_lookup(store):
    store.add_container(_config("ab" * 32, "one"), ContainerState())
    store.add_container(_config("ac" * 32, "two"), ContainerState())
    assert store.lookup_container("one") == "ab" * 32
    assert store.lookup_container("ab" * 32) == "ab" * 32
    assert store.lookup_container("aba") == "ab" * 32
    with pytest.raises(InvalidArgument, match="more than one result"):
        store.lookup_container("a")
    with pytest.raises(NoSuchContainer, match='no container with name or ID "zz" found'):
        store.lookup_container("zz")
    assert store.container_config("ac" * 32).name == "two"


def test_name_clash_is_refused_atomically(store):
    store.add_container(_config("ab" * 32, "same"), ContainerState())
    with pytest.raises(NameInUse):
        store.add_container(_config("cd" * 32, "same"), ContainerState())
    with pytest.raises(NoSuchContainer):
        store.container_config("cd" * 32)


def test_corrupt_record_is_one_clear_error(store):
    cid = "ab" * 32
    store.add_container(_config(cid, "x"), ContainerState())
    with store.env.begin(write=True) as txn:
        txn.put(cid.encode(), b'{"state": 42, "garbage', db=store.db["states"])
    with pytest.raises(CorruptRecord, match=f"corrupt state record for container {cid}"):
        store.container_state(cid)
    with store.env.begin(write=True) as txn:
        txn.put(cid.encode(), b'{"state": "flying"}', db=store.db["states"])
    with pytest.raises(CorruptRecord):
        store.container_state(cid)


def test_mount_counts_never_go_negative(store):
    assert store.change_mount_count("c", +1) == 1
    assert store.change_mount_count("c", +1) == 2
    assert store.change_mount_count("c", -5) == 0
    assert store.mount_count("c") == 0


def test_image_names_move_to_the_newest_image(store):
    store.put_image(ImageRecord(id="1" * 64, names=["localhost/a:latest"], layers=[], created=1.0))
    orphans = store.put_image(ImageRecord(id="2" * 64, names=["localhost/a:latest"], layers=[], created=2.0))
    assert orphans == ["1" * 64]
    assert store.image_id_for_name("localhost/a:latest") == "2" * 64
    assert store.image("1" * 64).names == []


def _add_many(path: str, start: int) -> None:
    child = Store(path)
    for n in range(start, start + 25):
        child.add_container(_config(f"{n:064x}", f"n{n}"), ContainerState())


def test_parallel_writers_from_processes(tmp_path):
    path = str(tmp_path / "state")
    Store(path).env.close()  # created here, opened anew by each spawned child
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_many, args=(path, 100 * i)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    from husk.state.store import open_store

    assert len(list(open_store(path).containers())) == 100


_FILL_SMALL_MAP = r"""
import sys, threading
from husk.state import store as store_module
from husk.state.records import ContainerConfig, ContainerState
store_module._INITIAL_MAP_SIZE = 64 * 1024  # full after a few records: every writer grows it
path, base = sys.argv[1], int(sys.argv[2])
store = store_module.open_store(path)
errors = []

def config(n):
    return ContainerConfig(id=f"{n:064x}", name=f"n{n}", created=1.0, image_id="i" * 64,
                           image_name="busybox", labels={"pad": "x" * 2000}, runtime="crun")

def writer(first):
    try:
        for n in range(first, first + 30):
            store.add_container(config(n), ContainerState())
    except Exception as exc:
        errors.append(repr(exc))

def reader(stop):
    try:
        while not stop.wait(0.001):
            for config, _ in store.containers():
                assert store.lookup_container(config.name) == config.id
    except Exception as exc:
        errors.append(repr(exc))

stop = threading.Event()
readers = [threading.Thread(target=reader, args=(stop,)) for _ in range(3)]
writers = [threading.Thread(target=writer, args=(base + 1000 * i,)) for i in range(3)]
for thread in readers + writers:
    thread.start()
for thread in writers:
    thread.join()
stop.set()
for thread in readers:
    thread.join()
print("\n".join(errors))
sys.exit(1 if errors else 0)
"""


def test_a_small_map_filled_from_threads_and_processes(tmp_path):
    """Threads read while others grow the map (LMDB forbids set_mapsize with a
    transaction open in the process), and two processes grow it under each
    other (reads and writes meet MapResizedError).  Each process runs in a
    child of its own, so a crash of LMDB is a failure, not a dead test run."""
    import subprocess
    import sys

    path = str(tmp_path / "state")
    children = [subprocess.Popen([sys.executable, "-c", _FILL_SMALL_MAP, path, str(base)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for base in (0, 10000)]
    try:
        for child in children:
            output = child.communicate(timeout=60)[0]
            assert child.returncode == 0, output
    finally:
        for child in children:
            child.kill()
            child.wait()
    assert len(list(Store(path).containers())) == 2 * 3 * 30


def test_names_past_lmdbs_key_limit_are_stored(store):
    """LMDB keys stop at 511 bytes; podman does not limit names (nor ids typed by hand)."""
    long, longer = "n" * 600, "n" * 601
    store.add_container(_config("ab" * 32, long), ContainerState())
    assert store.lookup_container(long) == "ab" * 32
    with pytest.raises(NameInUse):
        store.add_container(_config("cd" * 32, long), ContainerState())
    with pytest.raises(NoSuchContainer):
        store.lookup_container(longer)
    store.rewrite_config(_config("ab" * 32, longer), old_name=long)
    assert store.lookup_container(longer) == "ab" * 32
    store.remove_container(_config("ab" * 32, longer))
    with pytest.raises(NoSuchContainer):
        store.lookup_container(longer)
    store.put_image(ImageRecord(id="ef" * 32, names=["x" * 700], layers=[], created=1.0))
    assert store.image_id_for_name("x" * 700) == "ef" * 32 and store.image_ids_with_prefix("e" * 70) == []


def test_threads_opening_one_store_at_once_share_it(tmp_path):
    """LMDB refuses a second open of one environment in a process: threads that
    ask at the same moment (a build's parallel stages) get the one Store."""
    import threading

    from husk.state.store import open_store

    path = str(tmp_path / "state")
    barrier = threading.Barrier(8)
    stores, errors = [], []

    def opener():
        barrier.wait()
        try:
            stores.append(open_store(path))
        except Exception as exc:  # noqa: BLE001 - what a thread raised is the finding
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(stores) == 8 and all(store is stores[0] for store in stores)


def test_the_store_keeps_space_allocated_past_its_last_page(tmp_path):
    """What lets an exit or a removal commit on a full disk (tests/integration/
    test_full_disks.py fills one): the data file holds room LMDB has not used yet."""
    import os

    from husk.state.store import _RESERVE

    store = Store(str(tmp_path / "state"))
    used = (store.env.info()["last_pgno"] + 1) * store.env.stat()["psize"]
    data = os.stat(tmp_path / "state" / "data.mdb")
    assert data.st_size >= used + _RESERVE // 2
    assert data.st_blocks * 512 >= used + _RESERVE // 2  # allocated, not a hole


def test_record_annotations_are_types_not_strings():
    """msgspec builds each decoder from the records' annotations; as strings (``from
    __future__ import annotations``) it compiles and evaluates every one, about 1 ms of
    each command that reads a record (issue 20)."""
    import msgspec

    from husk.state import records, run_options

    for module in (records, run_options):
        structs = [value for value in vars(module).values() if isinstance(value, type)
                   and issubclass(value, msgspec.Struct) and value.__module__ == module.__name__]
        assert structs
        for struct in structs:
            assert not [name for name, kind in struct.__annotations__.items() if isinstance(kind, str)], struct
