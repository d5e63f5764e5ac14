"""husk.engine.userns's pure logic: podman's --uidmap format, /etc/subuid
ranges, and --userns=auto's choice of a free range."""

from __future__ import annotations

import pytest

from husk.define import InvalidArgument
from husk.engine import userns


@pytest.fixture
def subids(tmp_path, monkeypatch):
    def write(text: str) -> None:
        for name in ("subuid", "subgid"):
            (tmp_path / name).write_text(text)
        monkeypatch.setattr(userns, "SUBUID", str(tmp_path / "subuid"))
        monkeypatch.setattr(userns, "SUBGID", str(tmp_path / "subgid"))
    return write


def test_maps_parse_and_one_serves_for_both():
    assert userns.resolve("", ["0:100000:10", "10:200:5"], [], "", "", []) == (
        [[0, 100000, 10], [10, 200, 5]], [[0, 100000, 10], [10, 200, 5]])
    assert userns.resolve("host", [], [], "", "", []) == ([], [])


@pytest.mark.parametrize("value", ["bad", "0:1", "0:1:0", "a:1:2", "0:1:2:3", "-1:1:2"])
def test_malformed_maps(value):
    with pytest.raises(InvalidArgument, match="malformed"):
        userns.resolve("", [value], [], "", "", [])


def test_subuidname_lays_ranges_end_to_end(subids):
    subids("other:1:5\nalice:100000:10\nalice:500000:20\n")
    assert userns.resolve("", [], [], "alice", "", []) == ([[0, 100000, 10], [10, 500000, 20]],) * 2


def test_auto_skips_the_ranges_other_containers_hold(subids):
    subids("containers:1000:5000\n")
    first = userns.resolve("auto", [], [], "", "", [])
    assert first == ([[0, 1000, 1024]],) * 2
    taken = first[0] + [[0, 3000, 100]]
    assert userns.resolve("auto", [], [], "", "", taken) == ([[0, 3100, 1024]],) * 2
    assert userns.resolve("auto:size=10", [], [], "", "", taken)[0] == [[0, 2024, 10]]
    with pytest.raises(InvalidArgument, match="could not find enough available IDs"):
        userns.resolve("auto:size=4000", [], [], "", "", taken)


def test_auto_without_an_entry(subids):
    subids("")
    with pytest.raises(InvalidArgument, match='no subuid ranges found for user "containers"'):
        userns.resolve("auto", [], [], "", "", [])


def test_host_id():
    assert userns.host_id([[0, 100000, 10]], 3) == 100003
    assert userns.host_id([[0, 100000, 10]], 10) == 65534


def test_keep_id_and_nomap_maps_are_cut_at_the_parents_extents(monkeypatch):
    """A rootless namespace of 1 + 65536 + 65536 ids (its own id, two subordinate ranges): keep-id for
    uid 1001 and nomap cut their lines where the parent's lines meet (the kernel refuses a line across)."""
    extents = [(0, 1), (1, 65536), (65537, 65536)]
    monkeypatch.setattr(userns, "_own_extents", lambda: (extents, extents))
    monkeypatch.setenv("_HUSK_ROOTLESS_UID", "1001")
    uids, gids = userns._keep_id()
    assert uids == [[0, 1, 1001], [1001, 0, 1], [1002, 1002, 64535], [65537, 65537, 65536]]
    assert userns.keep_id_user(uids, uids) == (1001, 1001)
    assert userns._nomap() == ([[0, 1, 65536], [65536, 65537, 65536]],) * 2
    assert userns._fitted([[0, 0, 3]], [(0, 1), (1, 1), (5, 2)]) == [[0, 0, 1], [1, 1, 1]]
