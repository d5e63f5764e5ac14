"""husk.state.events: the file events log, its filters, times, rotation and following."""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import threading
import time

import pytest

from husk.define import InvalidArgument
from husk.state.events import (
    ROTATION,
    Event,
    EventLog,
    compile_filters,
    format_line,
    parse_filter_args,
    parse_time,
    to_json_line,
    to_template_data,
)

CTR_ID = "4f3b" + "0" * 60
NS = 1_000_000_000


@pytest.fixture
def log(tmp_path):
    return EventLog(str(tmp_path / "events" / "events.log"))


def test_emit_then_read_round_trips_every_field(log):
    emitted = [
        Event("create", id=CTR_ID, name="web", image="localhost/busybox:latest", attributes={"app": "x"}),
        Event("died", id=CTR_ID, name="web", image="localhost/busybox:latest", attributes={"containerExitCode": "3"}),
        Event("remove", type="image", id="e" * 64, name="localhost/busybox:latest"),
        Event("refresh", type="system"),
    ]
    for event in emitted:
        log.emit(event)
    assert list(log.read()) == emitted
    assert os.stat(log.path).st_mode & 0o777 == 0o600


def test_event_time_keeps_nanoseconds(log):
    log.emit(Event("start", id=CTR_ID, time_ns=1_700_000_000_123_456_789))
    (event,) = log.read()
    assert event.time_ns == 1_700_000_000_123_456_789
    assert event.time == pytest.approx(1_700_000_000.123456789)


def _emit_filter_fixture(log):
    events = {
        "a_start": Event("start", id="aaa" + "1" * 61, name="alpha", image="img1", attributes={"tier": "web"}),
        "a_stop": Event("stop", id="aaa" + "1" * 61, name="alpha", image="img1", attributes={"tier": "web"}),
        "b_start": Event("start", id="bbb" + "2" * 61, name="beta", image="img2", attributes={"tier": "db", "x": ""}),
        "b_died": Event("died", id="bbb" + "2" * 61, name="beta", image="img2"),
        "img_rm": Event("remove", type="image", id="ccc" + "3" * 61, name="img1"),
    }
    for event in events.values():
        log.emit(event)
    return events


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({}, ["a_start", "a_stop", "b_start", "b_died", "img_rm"]),
        ({"event": ["start"]}, ["a_start", "b_start"]),
        ({"event": ["start", "died"]}, ["a_start", "b_start", "b_died"]),  # same key: OR
        ({"status": ["stop"], "event": ["died"]}, ["a_stop", "b_died"]),  # status is event: OR
        ({"event": ["start"], "container": ["beta"]}, ["b_start"]),  # different keys: AND
        ({"container": ["aaa"]}, ["a_start", "a_stop"]),  # id prefix
        ({"container": ["alpha", "bbb2"]}, ["a_start", "a_stop", "b_start", "b_died"]),
        ({"container": ["ccc"]}, []),  # an image id is not a container
        ({"type": ["image"]}, ["img_rm"]),
        ({"image": ["img1"]}, ["img_rm"]),
        ({"image": ["ccc3"]}, ["img_rm"]),
        ({"label": ["tier"]}, ["a_start", "a_stop", "b_start"]),  # key only
        ({"label": ["tier=db"]}, ["b_start"]),
        ({"label": ["tier=db", "tier=web"], "event": ["stop"]}, ["a_stop"]),
        ({"label": ["x="]}, ["b_start"]),  # empty value matches only an empty value
        ({"Event": ["died"]}, ["b_died"]),  # keys are case-insensitive
    ],
)
def test_filters_or_within_a_key_and_across_keys(log, filters, expected):
    events = _emit_filter_fixture(log)
    assert list(log.read(filters=filters)) == [events[name] for name in expected]


def test_unknown_filter_key_is_invalid_argument_before_reading(log):
    with pytest.raises(InvalidArgument, match="bogus"):
        log.read(filters={"bogus": ["x"]})
    with pytest.raises(InvalidArgument):
        log.follow(filters={"pod": ["x"]})
    with pytest.raises(InvalidArgument):
        compile_filters({"volume": ["v"]})


def test_parse_filter_args_groups_repeated_keys():
    assert parse_filter_args(["event=start", "label=a=b", "event=stop"]) == {
        "event": ["start", "stop"],
        "label": ["a=b"],
    }
    with pytest.raises(InvalidArgument):
        parse_filter_args(["event"])


def test_since_and_until_with_each_time_syntax(log):
    now_ns = time.time_ns()
    hour_ago = Event("create", id=CTR_ID, time_ns=now_ns - 3600 * NS)
    ten_min_ago = Event("start", id=CTR_ID, time_ns=now_ns - 600 * NS)
    just_now = Event("stop", id=CTR_ID, time_ns=now_ns - NS)
    for event in (hour_ago, ten_min_ago, just_now):
        log.emit(event)

    def rfc3339(ns, tz=datetime.timezone.utc):
        return datetime.datetime.fromtimestamp(ns / NS, tz).isoformat()

    # Durations count back from now.
    assert list(log.read(since=parse_time("30m"))) == [ten_min_ago, just_now]
    assert list(log.read(since=parse_time("1h30m"), until=parse_time("5m"))) == [hour_ago, ten_min_ago]
    # Unix seconds, integer and fractional.
    assert list(log.read(since=parse_time(str((now_ns - 1800 * NS) // NS)))) == [ten_min_ago, just_now]
    assert list(log.read(until=parse_time(f"{(now_ns - 300 * NS) / NS:.6f}"))) == [hour_ago, ten_min_ago]
    # RFC 3339 with a fraction and Z, and with an offset.
    assert list(log.read(since=parse_time(rfc3339(now_ns - 1800 * NS).replace("+00:00", "Z")))) == [
        ten_min_ago,
        just_now,
    ]
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    assert list(log.read(until=parse_time(rfc3339(now_ns - 1800 * NS, plus_two)))) == [hour_ago]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-28T22:06:43.123456789Z", "2026-11-28T22:06:43.123456+00:00"),
        ("2026-11-28T22:06:43Z", "2026-11-28T22:06:43+00:00"),
        ("2026-11-28T22:06:43", "2026-11-28T22:06:43+00:00"),  # no zone: UTC, as Go parses it
        ("2026-11-28T22:06:43.5-05:30", "2026-11-29T03:36:43.500000+00:00"),
        ("2026-11-28", "2026-11-28T00:00:00+00:00"),
        ("1999-02-28T23:59:59+00:00", "1999-02-28T23:59:59+00:00"),
        ("1900-03-01T00:00:00Z", "1900-03-01T00:00:00+00:00"),
    ],
)
def test_parse_time_rfc3339(text, expected):
    assert datetime.datetime.fromisoformat(expected).timestamp() == pytest.approx(parse_time(text), abs=1e-6)


def test_parse_time_keeps_nanoseconds_and_rejects_garbage():
    from husk.formats.timestamps import parse_duration_ns, parse_time_ns

    assert parse_time_ns("2026-11-28T22:06:43.123456789Z") % NS == 123456789
    assert parse_time_ns("1700000000.000000001") == 1_700_000_000 * NS + 1
    assert parse_duration_ns("1h30m") == 5400 * NS
    assert parse_duration_ns("1.5s") == 1_500_000_000
    assert parse_duration_ns("300ms") == 300_000_000
    assert parse_duration_ns("2h45m10us") == (2 * 3600 + 45 * 60) * NS + 10_000
    assert parse_time_ns("10m", now_ns=1000 * NS) == 400 * NS
    for bad in ("", "yesterday", "10x", "2026-13-01", "2026-11-28T25:00:00Z", "1h30", "--5s", "2026-11-28T22:06:43.Z"):
        with pytest.raises(InvalidArgument):
            parse_time(bad)


def test_corrupt_lines_are_skipped(log):
    good1 = Event("create", id=CTR_ID, name="a")
    good2 = Event("start", id=CTR_ID, name="a")
    log.emit(good1)
    with open(log.path, "ab") as raw:
        raw.write(b"garbage\n")
        raw.write(b'{"time_ns": 5, "type": "container", "status": "st\n')  # torn
        raw.write(b"\xff\xfe not utf-8\n")
        raw.write(b"[1, 2, 3]\n")
        raw.write(b'{"time_ns": "soon", "type": "container", "status": "start"}\n')
        raw.write(b'{"time_ns": 5, "type": "container", "status": "start", "attributes": {"a": 1}}\n')
        raw.write(b'{"time_ns": 5, "type": "", "status": "start"}\n')
        raw.write(b"\n")
    log.emit(good2)
    with open(log.path, "ab") as raw:
        raw.write(b'{"time_ns": 5, "type": "container", "status": "start", "id": "unterminated"}')
    assert list(log.read()) == [good1, good2]


def test_rotation_keeps_one_generation_and_readers_read_it_first(tmp_path):
    log = EventLog(str(tmp_path / "events.log"), max_size=2000)
    emitted = [Event("start", id=CTR_ID, name=f"c{i}") for i in range(60)]
    for event in emitted:
        log.emit(event)
    line_size = len(emitted[0].to_json()) + 1
    assert 2000 < os.path.getsize(log.path + ".1") <= 2000 + line_size
    assert os.path.getsize(log.path) <= 2000
    everything = list(log.read())
    rotations = [e for e in everything if e.type == "system"]
    assert rotations and all(e.status == ROTATION and e.name == log.path for e in rotations)
    with open(log.path, "rb") as current:  # the current file begins with its rotation event
        assert Event.from_json(current.readline()).status == ROTATION
    seen = [e for e in everything if e.type != "system"]
    assert seen == emitted[-len(seen) :]  # a suffix, in order: .1 before the current file
    assert len(seen) > 2000 // line_size


def _writer(path: str, max_size: int, writer: int, count: int) -> None:
    log = EventLog(path, max_size=max_size)
    for seq in range(count):
        log.emit(Event("exec", id=CTR_ID, name=f"w{writer}", attributes={"seq": str(seq), "pad": "p" * 40}))


def _run_writers(path: str, max_size: int, writers: int = 4, count: int = 500) -> None:
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_writer, args=(path, max_size, w, count)) for w in range(writers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0


def _all_lines(path: str) -> list[bytes]:
    lines = []
    for name in (path + ".1", path):
        if os.path.exists(name):
            with open(name, "rb") as f:
                lines += f.read().splitlines()
    return lines


def test_concurrent_writers_through_one_rotation_lose_and_tear_nothing(tmp_path):
    path = str(tmp_path / "events.log")
    # 2000 events of about 200 bytes: more than max_size, less than twice it,
    # so exactly one rotation and both generations together hold everything.
    line_size = len(Event("exec", id=CTR_ID, name="w0", attributes={"seq": "100", "pad": "p" * 40}).to_json()) + 1
    max_size = 2000 * line_size * 2 // 3
    _run_writers(path, max_size)
    assert os.path.exists(path + ".1")
    lines = _all_lines(path)
    assert all(Event.from_json(line) is not None for line in lines)  # nothing torn
    seen = [(e.name, int(e.attributes["seq"])) for e in EventLog(path).read() if e.status != ROTATION]
    assert sorted(seen) == sorted((f"w{w}", s) for w in range(4) for s in range(500))


def test_concurrent_writers_through_many_rotations_keep_whole_recent_history(tmp_path):
    path = str(tmp_path / "events.log")
    _run_writers(path, max_size=20_000)
    lines = _all_lines(path)
    assert lines and all(Event.from_json(line) is not None for line in lines)
    by_writer: dict[str, list[int]] = {}
    for event in EventLog(path).read():
        if event.status == ROTATION:
            continue
        by_writer.setdefault(event.name, []).append(int(event.attributes["seq"]))
    # Rotation drops whole older generations only: each writer's surviving
    # events are its latest ones, in order, with no gap.
    for seqs in by_writer.values():
        assert seqs == list(range(seqs[0], 500))


def _emit_later(path: str, delay: float, names: list[str]) -> None:
    time.sleep(delay)
    log = EventLog(path, max_size=1500)  # small: the follower must cross rotations
    for name in names:
        log.emit(Event("start", id=CTR_ID, name=name))
        time.sleep(0.01)


def test_follow_sees_events_appended_by_another_process(tmp_path):
    path = str(tmp_path / "events.log")
    EventLog(path).emit(Event("create", id=CTR_ID, name="old"))
    names = [f"n{i}" for i in range(40)]
    child = multiprocessing.get_context("fork").Process(target=_emit_later, args=(path, 0.5, names))
    seen: list[str] = []
    child.start()
    try:
        for event in EventLog(path).follow(should_stop=lambda: len(seen) >= len(names), poll_interval=0.02):
            if event.status == ROTATION:  # the follower crosses rotations and sees their events
                continue
            seen.append(event.name)
            if len(seen) == len(names):
                break
    finally:
        child.join(30)
    assert seen == names  # not "old": without since only new events stream


def test_follow_with_since_replays_history_then_stops_at_until(log):
    log.emit(Event("create", id=CTR_ID, name="old", time_ns=time.time_ns() - 60 * NS))
    log.emit(Event("start", id=CTR_ID, name="recent"))
    writer = threading.Timer(0.2, lambda: log.emit(Event("stop", id=CTR_ID, name="live")))
    writer.start()
    started = time.monotonic()
    seen = [e.name for e in log.follow(since=parse_time("30s"), until=time.time() + 0.6, poll_interval=0.02)]
    writer.join()
    assert seen == ["recent", "live"]
    assert 0.5 < time.monotonic() - started < 3


def test_follow_of_a_missing_log_waits_for_it(log):
    threading.Timer(0.2, lambda: log.emit(Event("start", id=CTR_ID, name="first"))).start()
    seen = [e.name for e in log.follow(until=time.time() + 0.6, poll_interval=0.02)]
    assert seen == ["first"]


def test_format_line_matches_podman(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        when = 1_795_903_603_123_456_789  # 2026-11-28 22:06:43.123456789 UTC
        event = Event(
            "start",
            id=CTR_ID,
            name="foo",
            image="localhost/busybox:latest",
            attributes={"zeta": "1", "alpha": "2", "containerExitCode": "0", "image": "localhost/busybox:latest"},
            time_ns=when,
        )
        assert format_line(event) == (
            f"2026-11-28 22:06:43.123456789 +0000 UTC container start {CTR_ID} "
            "(image=localhost/busybox:latest, name=foo, alpha=2, zeta=1)"
        )
        # Go's .999999999 layout drops trailing zeros, and the dot with them.
        image = Event("remove", type="image", id="e" * 64, name="localhost/busybox:latest", time_ns=when - 123_456_789)
        assert format_line(image) == f"2026-11-28 22:06:43 +0000 UTC image remove {'e' * 64} localhost/busybox:latest"
        assert format_line(Event("refresh", type="system", time_ns=when + 11)).startswith("2026-11-28 22:06:43.1234568 ")
        assert format_line(Event("refresh", type="system", time_ns=when)).endswith("UTC system refresh")
        monkeypatch.setenv("TZ", "EST+5")
        time.tzset()
        assert format_line(image).startswith("2026-11-28 17:06:43 -0500 EST image remove")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_template_and_json_data_use_podman_names():
    event = Event(
        "died",
        id=CTR_ID,
        name="foo",
        image="img",
        attributes={"app": "x", "containerExitCode": "137", "name": "foo", "image": "other"},
        time_ns=1_700_000_000_500_000_000,
    )
    assert to_template_data(event) == {
        "ID": CTR_ID,
        "Image": "img",
        "Name": "foo",
        "Status": "died",
        "Time": 1_700_000_000,
        "TimeNano": 1_700_000_000_500_000_000,
        "Type": "container",
        "Attributes": {"app": "x", "image": "other"},
        "ContainerExitCode": 137,
    }
    assert json.loads(to_json_line(event)) == {
        "ContainerExitCode": 137,
        "ID": CTR_ID,
        "Image": "img",
        "Name": "foo",
        "Status": "died",
        "time": 1_700_000_000,
        "timeNano": 1_700_000_000_500_000_000,
        "Type": "container",
        "Attributes": {"app": "x", "image": "other"},
    }


def test_emitting_imports_neither_json_nor_the_reader(tmp_path):
    """A lifecycle command writes its event with msgspec's encoder (loaded for
    the records already): the json module and RotatingFile are the readers'
    (~1 ms of each pause, unpause and stop's start-up, issue 20).  The line is
    what json.dumps wrote: compact, UTF-8, the same escapes."""
    import subprocess
    import sys

    path = tmp_path / "events.log"
    code = ("import sys; import msgspec\n"
            "from husk.state.events import Event, EventLog\n"
            f"EventLog({str(path)!r}).emit(Event('pause', id='c' * 64, name='ü \"q\" \\x01\\n', "
            "attributes={'k': 'v\\t'}, time_ns=5))\n"
            "print(sorted(m for m in ('json', 'husk.state.rotatingfile') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    record = {"time_ns": 5, "type": "container", "status": "pause", "id": "c" * 64, "name": 'ü "q" \x01\n',
              "attributes": {"k": "v\t"}}
    assert path.read_text(encoding="utf-8") == json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
