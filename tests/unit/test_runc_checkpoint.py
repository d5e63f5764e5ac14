"""The runc backend's checkpoint freezes the container with `runc pause`
before CRIU runs (CRIU's own freeze polls every 100 ms) and resumes whatever
goes on running: a --leave-running or pre-dump dump, and a failed one.  The
command sequence is the logic under test; the real dumps are in
tests/integration/test_checkpoint*.py."""

import json

import pytest

from husk.define import RuntimeFailure
from husk_runc import Runc


class Recording(Runc):
    def __init__(self, fail: bool = False) -> None:
        super().__init__("/nonexistent")
        self.calls: list[str] = []
        self.fail = fail

    def run(self, *args, **kwargs):
        self.calls.append(args[0])
        if args[0] == "checkpoint" and self.fail:
            raise RuntimeFailure("runc: criu failed")
        return ""


@pytest.mark.parametrize("flags, calls", [
    ([], ["pause", "checkpoint"]),  # runc kills and deletes the dumped container, frozen or not
    (["--leave-running"], ["pause", "checkpoint", "resume"]),
    (["--pre-dump"], ["pause", "checkpoint", "resume"]),
])
def test_paused_for_the_dump_and_resumed_when_it_goes_on(flags, calls):
    runc = Recording()
    runc.checkpoint("c1", "/images", "/work", flags)
    assert runc.calls == calls


def test_a_failed_dump_resumes_the_container():
    runc = Recording(fail=True)
    with pytest.raises(RuntimeFailure, match="criu failed"):
        runc.checkpoint("c1", "/images", "/work", [])
    assert runc.calls == ["pause", "checkpoint", "resume"]


def _runc_with_a_freezer(tmp_path):
    """A Recording runc whose state for c1 names a cgroup-v1 freezer (a plain
    file stands in for freezer.state), and that freezer's directory."""
    freezer = tmp_path / "freezer"
    freezer.mkdir()
    (freezer / "freezer.state").write_text("THAWED\n")
    runc = Recording()
    runc.state_root = str(tmp_path / "root")
    (tmp_path / "root" / "c1").mkdir(parents=True)
    (tmp_path / "root" / "c1" / "state.json").write_text(json.dumps({"cgroup_paths": {"freezer": str(freezer)}}))
    return runc, freezer


def test_a_cgroup_v1_container_is_frozen_by_its_freezer_file(tmp_path):
    """runc's state names the freezer cgroup: written directly, no `runc pause`
    (a plain file stands in for freezer.state: it reads back FROZEN at once)."""
    runc, freezer = _runc_with_a_freezer(tmp_path)
    runc.checkpoint("c1", "/images", "/work", [])
    assert runc.calls == ["checkpoint"]
    assert (freezer / "freezer.state").read_text() == "FROZEN"
    (tmp_path / "root" / "c1" / "state.json").write_text(json.dumps({"cgroup_paths": {"": str(freezer)}}))
    runc.calls.clear()
    runc.checkpoint("c1", "/images", "/work", [])  # cgroup v2: runc pauses it
    assert runc.calls == ["pause", "checkpoint"]


def test_a_freeze_whose_state_cannot_be_read_back_is_thawed_and_left_to_runc(tmp_path, monkeypatch):
    """FROZEN written but the state unreadable (the cgroup going away): the
    freeze is taken back before `runc pause` is asked, never left behind."""
    import husk_runc

    runc, freezer = _runc_with_a_freezer(tmp_path)

    def unreadable(path):
        raise OSError(19, "No such device")

    monkeypatch.setattr(husk_runc, "_read", unreadable)
    runc.checkpoint("c1", "/images", "/work", [])
    assert runc.calls == ["pause", "checkpoint"]
    assert (freezer / "freezer.state").read_text() == "THAWED"
