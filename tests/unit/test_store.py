"""The LMDB store: typed records, names, prefixes, corrupt records, mount counts."""

from __future__ import annotations

import multiprocessing

import pytest

from husk.define import CorruptRecord, InvalidArgument, NameInUse, NoSuchContainer
from husk.records import ContainerConfig, ContainerState, ImageRecord
from husk.store import Store


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
    from husk.store import open_store

    assert len(list(open_store(path).containers())) == 100
