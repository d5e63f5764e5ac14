"""The pure parts of husk.engine.health: flags, the image's and Docker's
configurations, the status rules (retries, start period) and the documents."""

from __future__ import annotations

import json

import pytest

from husk.define import InvalidArgument
from husk.engine import health
from husk.state.records import Health, Healthcheck, HealthResult, ImageRecord

NS = 1_000_000_000


def _image(config: dict | None) -> ImageRecord:
    return ImageRecord(id="0" * 64, names=[], layers=[], created=0.0,
                       config_json=json.dumps({"config": config}) if config is not None else "")


@pytest.mark.parametrize("cmd, test", [
    ("test -f /x", ["CMD-SHELL", "test -f /x"]),
    ('["CMD", "ls", "/"]', ["CMD", "ls", "/"]),
    ('["CMD-SHELL", "exit 1"]', ["CMD-SHELL", "exit 1"]),
    ('["ls", "/"]', ["CMD", "ls", "/"]),
    ("none", ["NONE"]),
    ("[not json", ["CMD-SHELL", "[not json"]),
])
def test_health_cmd_forms(cmd, test):
    assert health.parse_test(cmd) == test


def test_flags_are_checked_with_podmans_messages():
    assert health.from_flags(None) == {}
    assert health.from_flags("true", interval="disable", retries=5, start_period="2s", timeout="1500ms",
                              on_failure="kill") == {"test": ["CMD-SHELL", "true"], "interval": 0, "retries": 5,
                                                     "start_period": 2 * NS, "timeout": 1500 * 10 ** 6,
                                                     "on_failure": "kill"}
    assert health.from_flags(None, disabled=True) == {"test": ["NONE"]}
    for kwargs, message in (({"retries": 0}, "healthcheck-retries must be greater than 0"),
                            ({"timeout": "999ms"}, "healthcheck-timeout must be at least 1 second"),
                            ({"start_period": "-1s"}, "healthcheck-start-period must be 0 seconds or greater"),
                            ({"interval": "1 minute"}, 'invalid healthcheck-interval: time: invalid duration'),
                            ({"on_failure": "explode"}, 'invalid on-failure action "explode"'),
                            ({"disabled": True}, "cannot specify both --no-healthcheck and --health-cmd")):
        with pytest.raises(InvalidArgument, match=message):
            health.from_flags("true", **kwargs)
    with pytest.raises(InvalidArgument, match="must define a healthcheck command"):
        health.from_flags("  ")


def test_the_images_check_applies_unless_overridden_or_disabled():
    image = _image({"Healthcheck": {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5 * NS,
                                    "Retries": 0}})
    check = health.resolve({}, image)
    assert check == Healthcheck(test=["CMD-SHELL", "curl -f localhost"], interval=5 * NS, timeout=30 * NS,
                                retries=3)
    assert health.resolve({"retries": 7}, image).retries == 7
    assert health.resolve({"test": ["CMD", "true"]}, image).test == ["CMD", "true"]
    assert health.resolve({"test": ["CMD", "true"]}, image).interval == 30 * NS  # the flags' own defaults
    assert health.resolve({"test": ["NONE"]}, image) is None
    assert health.resolve({}, _image({})) is None
    assert health.resolve({}, _image(None)) is None
    assert health.resolve({}, _image({"Healthcheck": {"Test": ["NONE"]}})) is None
    assert health.resolve({"interval": NS}, _image({})) is None  # settings alone define no check


def test_dockers_create_body():
    assert health.from_config([], interval=2 * NS) == {"interval": 2 * NS}
    assert health.from_config(["CMD", "true"], retries=1) == {"test": ["CMD", "true"], "retries": 1}
    for test, kwargs in ((["BOGUS"], {}), (["CMD", "x"], {"timeout": 10}), ([], {"interval": -1})):
        with pytest.raises(InvalidArgument):
            health.from_config(test, **kwargs)


def test_the_exec_command():
    assert health.command(Healthcheck(test=["CMD-SHELL", "a", "b"])) == ["/bin/sh", "-c", "a b"]
    assert health.command(Healthcheck(test=["CMD", "ls", "-l"])) == ["ls", "-l"]


def _result(code: int, start: float) -> HealthResult:
    return HealthResult(start=start, end=start + 0.1, exit_code=code, output="")


def test_retries_failures_in_a_row_make_it_unhealthy_and_a_pass_heals():
    check = Healthcheck(test=["CMD", "x"], retries=2)
    state = Health()
    state = health.updated(state, _result(1, 10), check, started_at=0)
    assert (state.status, state.failing_streak) == ("starting", 1)
    state = health.updated(state, _result(1, 11), check, started_at=0)
    assert (state.status, state.failing_streak) == ("unhealthy", 2)
    state = health.updated(state, _result(0, 12), check, started_at=0)
    assert (state.status, state.failing_streak) == ("healthy", 0)
    for second in range(13, 20):
        state = health.updated(state, _result(0, second), check, started_at=0)
    assert len(state.log) == 5 and state.log[-1].start == 19


def test_the_start_period_forgives_failures_until_the_first_pass():
    check = Healthcheck(test=["CMD", "x"], retries=1, start_period=60 * NS)
    state = health.updated(Health(), _result(1, 10), check, started_at=0)
    assert (state.status, state.failing_streak, len(state.log)) == ("starting", 0, 1)
    state = health.updated(state, _result(0, 20), check, started_at=0)
    state = health.updated(state, _result(1, 30), check, started_at=0)  # after a pass, failures count
    assert (state.status, state.failing_streak) == ("unhealthy", 1)
    late = health.updated(Health(), _result(1, 61), check, started_at=0)
    assert late.status == "unhealthy"


def test_documents():
    check = Healthcheck(test=["CMD", "true"], interval=NS, start_period=0, retries=3)
    assert health.config_document(check) == {"Test": ["CMD", "true"], "Interval": NS, "Timeout": 30 * NS,
                                             "Retries": 3}
    assert health.state_document(None) == {"Status": "", "FailingStreak": 0, "Log": None}
    document = health.state_document(Health(status="healthy", log=[_result(0, 1.5)]))
    assert document["Log"] == [{"Start": "1970-01-01T00:00:01.5Z", "End": "1970-01-01T00:00:01.6Z",
                                "ExitCode": 0, "Output": ""}]


def test_the_ps_filter_takes_health_values():
    from husk.presentation.filters import container_filter

    container_filter({"health": ["healthy", "unhealthy", "starting", "none"]})
    with pytest.raises(InvalidArgument, match="invalid health filter"):
        container_filter({"health": ["sick"]})


def test_wait_conditions():
    from husk.engine.waiting import parse_condition

    assert parse_condition("healthy") == "healthy"
    assert parse_condition("Unhealthy") == "unhealthy"
    assert parse_condition("stopping") == "stopping"  # podman's state while a stop waits
    with pytest.raises(InvalidArgument, match="'unknown' is not supported"):
        parse_condition("unknown")


def test_health_status_event_shapes():
    """podman's line and JSON (health_status beside the labels, not among them), Docker's action."""
    from husk.api.documents import event as docker_event
    from husk.state.events import Event, format_line, to_json_line

    event = Event("health_status", id="c" * 64, name="web", image="img",
                  attributes={"image": "img", "name": "web", "health_status": "healthy", "tier": "db"})
    assert format_line(event).endswith(f"container health_status {'c' * 64} "
                                       "(image=img, name=web, health_status=healthy, tier=db)")
    record = json.loads(to_json_line(event))
    assert (record["health_status"], record["Attributes"]) == ("healthy", {"tier": "db"})
    assert docker_event(event)["Action"] == "health_status: healthy"
    assert docker_event(Event("exec_died", id="c" * 64, attributes={"execID": "e"}))["Action"] == "exec_die"
