"""The core calls husk_checkpoint and husk_restore at their transitions, with the
container and the options; a plugin answering first (firstresult) does the work."""

from __future__ import annotations

import pytest

from husk.define import State
from husk.hooks import hookimpl


class Probe:
    """Watches the calls; answers None so the husk-criu plugin still does the work."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, dict]] = []

    @hookimpl(tryfirst=True)
    def husk_checkpoint(self, container, options):
        self.calls.append(("checkpoint", container.id, str(container.state.state), dict(options)))

    @hookimpl(tryfirst=True)
    def husk_restore(self, container, options):
        self.calls.append(("restore", container.id if container else "", "", dict(options)))


@pytest.fixture
def probed_runtime(husk):
    runtime = husk.runtime()
    probe = Probe()
    runtime.plugins.register(probe, name="probe")
    return runtime, probe


def test_husk_checkpoint_and_husk_restore_hooks_fire_with_container_and_options(probed_runtime):
    runtime, probe = probed_runtime
    ctr = runtime.create_container("busybox", ["sleep", "1000"], runtime="runc")
    ctr.start()
    ctr.checkpoint({"keep": True})
    assert ctr.state.state is State.EXITED and ctr.state.checkpointed
    ctr.restore({})
    assert ctr.state.state is State.RUNNING
    assert [(c[0], c[1]) for c in probe.calls] == [("checkpoint", ctr.id), ("restore", ctr.id)]
    assert probe.calls[0][2] == "running" and probe.calls[0][3].get("keep") is True
    ctr.remove(force=True, timeout=0)


class Claimer:
    """A plugin that answers first claims the work: the criu plugin is not called."""

    @hookimpl(tryfirst=True)
    def husk_checkpoint(self, container, options):
        return True


def test_husk_checkpoint_first_result_wins(husk):
    runtime = husk.runtime()
    runtime.plugins.register(Claimer(), name="claimer")
    ctr = runtime.create_container("busybox", ["sleep", "1000"], runtime="runc")
    ctr.start()
    ctr.checkpoint({"keep_running": True})
    # the claimer did nothing, so nothing was checkpointed: the process still runs
    assert ctr.state.state is State.RUNNING
    ctr.remove(force=True, timeout=0)
