"""husk.presentation.filters: the container filters the CLI and both APIs share."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from husk.api.documents import docker_state
from husk.define import InvalidArgument, State
from husk.presentation.filters import container_filter


def _ctr(state=State.EXITED, exit_code=0, name="web-1", labels=None):
    config = SimpleNamespace(id="abc123" + "0" * 58, name=name, labels=labels or {}, image_name="busybox",
                             image_ref="localhost/busybox:latest", image_id="f00d" + "1" * 60)
    return SimpleNamespace(config=config, state=SimpleNamespace(state=state, exit_code=exit_code))


@pytest.mark.parametrize("wanted, docker, expected", [
    ({"status": ["exited"]}, False, True),
    ({"status": ["stopped"]}, False, True),     # podman's synonym
    ({"status": ["exited"]}, True, True),
    ({"name": ["/web"]}, True, True),           # Docker's names carry a slash
    ({"name": ["^web-\\d$"]}, False, True),
    ({"name": ["db", "web"]}, False, True),     # values of a key OR'ed
    ({"name": ["web"], "exited": ["1"]}, False, False),  # keys AND'ed
    ({"exited": ["+0"]}, False, True),
    ({"label": ["tier"]}, False, True),
    ({"label": ["tier=front"]}, False, True),
    ({"label": ["tier=back"]}, False, False),
    ({"ancestor": ["sha256:f00d"]}, True, True),
    ({"ancestor": ["busybox"]}, False, True),
    ({"id": ["abc"]}, False, True),
])
def test_matching(wanted, docker, expected):
    match = container_filter(wanted, docker_state if docker else None)
    assert match(_ctr(labels={"tier": "front"})) is expected


@pytest.mark.parametrize("wanted, docker, message", [
    ({"color": ["red"]}, False, "invalid filter 'color'"),
    ({"status": ["stopped"]}, True, "invalid status filter 'stopped'"),  # not one of Docker's names
    ({"status": ["dead"]}, False, "invalid status filter 'dead'"),       # not one of podman's
    ({"exited": ["²"]}, False, "invalid exited filter"),
    ({"name": ["("]}, True, "invalid name filter '(': bad regular expression"),
])
def test_refusals_name_the_bad_part(wanted, docker, message):
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        container_filter(wanted, docker_state if docker else None)
