"""Container artifacts: named files in the container's userdata/artifacts,
names that could escape refused, and a removed container refused."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from husk.engine.artifacts import NoSuchArtifact
from husk.engine.container import Container
from husk.define import ContainerRemoved, InvalidArgument
from husk.state.records import ContainerConfig, ContainerState
from husk.engine.runtime import Runtime


@pytest.fixture
def ctr(tmp_path):
    runtime = Runtime(str(tmp_path / "root"), str(tmp_path / "run"), "crun")
    config = ContainerConfig(id="c" * 64, name="art", created=1.0, image_id="i" * 64,
                             image_name="busybox", runtime="crun")
    state = ContainerState()
    runtime.store.add_container(config, state)
    return Container(runtime, config, state)


def test_add_get_remove(ctr):
    ctr.add_artifact("spec.json", b'{"a": 1}')
    assert ctr.get_artifact("spec.json") == b'{"a": 1}'
    path = os.path.join(ctr.runtime.paths.artifacts(ctr.id), "spec.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o740
    ctr.add_artifact("spec.json", b"replaced")
    assert ctr.get_artifact("spec.json") == b"replaced"
    assert sorted(os.listdir(ctr.runtime.paths.artifacts(ctr.id))) == ["spec.json"]  # no temporaries left
    ctr.remove_artifact("spec.json")
    assert not os.path.exists(path)
    with pytest.raises(NoSuchArtifact, match="no artifact named 'spec.json'"):
        ctr.get_artifact("spec.json")
    with pytest.raises(NoSuchArtifact):
        ctr.remove_artifact("spec.json")


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "/etc/passwd", "nul\0byte"])
def test_names_that_would_escape_are_refused(ctr, tmp_path, name):
    outside = tmp_path / "x"
    for operation in (lambda: ctr.add_artifact(name, b"data"), lambda: ctr.get_artifact(name),
                      lambda: ctr.remove_artifact(name)):
        with pytest.raises(InvalidArgument, match="invalid artifact name"):
            operation()
    assert not outside.exists()


def test_a_removed_container_is_refused(ctr):
    ctr.add_artifact("kept", b"1")
    ctr.runtime.store.remove_container(ctr.config)  # removed by another process
    for operation in (lambda: ctr.add_artifact("x", b""), lambda: ctr.get_artifact("kept"),
                      lambda: ctr.remove_artifact("kept")):
        with pytest.raises(ContainerRemoved):
            operation()


def test_readers_never_see_half_an_artifact(ctr):
    small, large = b"s" * 10, b"L" * (4 << 20)
    ctr.add_artifact("blob", small)
    seen = set()
    done = threading.Event()

    def read():
        while not done.is_set():
            seen.add(len(ctr.get_artifact("blob")))

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(20):
        ctr.add_artifact("blob", large)
        ctr.add_artifact("blob", small)
    done.set()
    reader.join()
    assert seen <= {len(small), len(large)}
