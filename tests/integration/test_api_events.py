"""`GET /events` with real clients: a bounded window (`--since` / `--until`)
streams the matching events and ends; an open one streams live; Docker's
action names (`die`, `destroy`) in the stream and in `event=` filters.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time

import docker
import pytest

from husk.testing import DOCKER, needs_docker_cli


def _two_runs(service) -> tuple[float, float]:
    """Run containers `one` and `two` to completion; the window around them."""
    since = time.time() - 1
    for name in ("one", "two"):
        assert service.docker("run", "--name", name, "busybox", "true").returncode == 0
    time.sleep(0.1)
    return since, time.time() + 0.5


@needs_docker_cli
def test_docker_events_in_a_window_for_one_container_ends(api):
    since, until = _two_runs(api)
    result = api.docker("events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--filter",
                        "container=one", "--format", "{{json .}}", timeout=60)
    assert result.returncode == 0, result.stderr  # it ended by itself at the window's end (no timeout)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert {event["Actor"]["Attributes"]["name"] for event in events} == {"one"}
    actions = [event["Action"] for event in events]
    assert actions.index("create") < actions.index("start") < actions.index("die"), actions
    died = events[actions.index("die")]
    assert died["Actor"]["Attributes"]["exitCode"] == "0" and died["Type"] == "container"
    # an event filter in Docker's name, with the container filter
    result = api.docker("events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--filter", "event=die",
                        "--format", "{{.Actor.Attributes.name}} {{.Action}}", timeout=30)
    assert result.stdout.decode().splitlines() == ["one die", "two die"]


@needs_docker_cli
def test_docker_events_streams_live_starts(api_crun):
    env = {**os.environ, "DOCKER_HOST": f"unix://{api_crun.socket_path}",
           "DOCKER_CONFIG": os.path.dirname(api_crun.socket_path)}
    assert api_crun.docker("create", "--name", "probe", "busybox", "true").returncode == 0
    watcher = subprocess.Popen([DOCKER, "events", "--filter", "event=start", "--format", "{{.Actor.Attributes.name}} "
                                "{{.Action}}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        lines = _Lines(watcher.stdout.fileno())
        # the stream is open once a probe's start comes through it (the CLI may take seconds to connect)
        deadline = time.monotonic() + 60
        while (line := lines.next(timeout=1)) is None:
            assert time.monotonic() < deadline and watcher.poll() is None, "the events stream did not open"
            assert api_crun.docker("start", "probe").returncode == 0
        assert line == "probe start"
        assert api_crun.docker("run", "--name", "live", "busybox", "true").returncode == 0
        assert api_crun.docker("create", "--name", "quiet", "busybox", "true").returncode == 0
        assert api_crun.docker("start", "live").returncode == 0
        seen = []
        while len(seen) < 2:  # after starts of the probe that were on their way
            line = lines.next(timeout=60)
            assert line is not None, seen
            if line != "probe start":
                seen.append(line)
        assert seen == ["live start", "live start"]
        assert watcher.poll() is None  # no --until: it goes on
    finally:
        watcher.terminate()
        watcher.communicate(timeout=10)


class _Lines:
    """Lines of a pipe, each waited for at most `timeout` seconds (a missing
    event fails the test instead of hanging it in readline)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def next(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()


def test_sdk_events_decoded_in_a_window(api):
    client = docker.DockerClient(base_url=f"unix://{api.socket_path}", timeout=120)
    try:
        since = int(time.time()) - 1
        container = client.containers.run("busybox", ["true"], name="sdk", detach=True)
        container.wait(timeout=120)
        container.remove()
        until = int(time.time()) + 1
        events = list(client.events(decode=True, since=since, until=until, filters={"container": "sdk"}))
        assert [event["Action"] for event in events if event["Action"] in ("create", "start", "die", "destroy")] == \
            ["create", "start", "die", "destroy"]
        assert all(event["id"] == container.id and event["Type"] == "container" for event in events)
        assert all(since * 10 ** 9 <= event["timeNano"] < until * 10 ** 9 for event in events)
    finally:
        client.close()


@pytest.mark.parametrize("query", ["since=" + "9" * 400, "until=" + "9" * 400 + "h", "since=yesterday",
                                   "filters=" + "%5B" * 2000, 'filters={"bogus":["x"]}'])
def test_bad_event_parameters_are_a_400(api_crun, query):
    status, _, body = api_crun.request("GET", "/events?" + query)
    assert status == 400 and body["message"], body
