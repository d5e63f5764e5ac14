"""husk.engine.logs: reading, tailing and following the k8s-file container log."""

from __future__ import annotations

import io
import os
import random
import threading
import time

import pytest

from husk.state import rotatingfile
from husk.engine.logs import LogLine, encode_record, follow_log, read_log, write_lines
from husk.formats.timestamps import parse_time

NS = 1_000_000_000
T0 = 1_795_903_603 * NS  # 2026-11-28T22:06:43Z


def write_records(path, records, mode="ab"):
    """records: (seconds after T0, stream, text, partial)."""
    with open(path, mode) as log_file:
        for offset, stream, text, partial in records:
            log_file.write(encode_record(T0 + int(offset * NS), stream, text, partial=partial))


def texts(lines):
    return [(line.stream, line.text) for line in lines]


@pytest.fixture
def log_path(tmp_path):
    return str(tmp_path / "ctr.log")


def test_record_format_is_k8s_file(log_path):
    assert encode_record(T0 + 5, "stdout", b"hi there", partial=False) == (
        b"2026-11-28T22:06:43.000000005Z stdout F hi there\n"
    )
    assert encode_record(T0, "stderr", b"x", partial=True) == b"2026-11-28T22:06:43Z stderr P x\n"


def test_partial_records_are_joined_per_stream(log_path):
    write_records(
        log_path,
        [
            (0, "stdout", b"hel", True),
            (1, "stderr", b"warn", True),
            (2, "stdout", b"lo ", True),
            (3, "stderr", b"ing", False),
            (4, "stdout", b"world", False),
            (5, "stdout", b"", False),  # an empty line
            (6, "stdout", b"no newline at the end", True),
        ],
    )
    lines = list(read_log(log_path))
    assert texts(lines) == [
        ("stderr", b"warning\n"),
        ("stdout", b"hello world\n"),
        ("stdout", b"\n"),
        ("stdout", b"no newline at the end"),
    ]
    # A joined line carries the time of the record that ended it, as podman's.
    assert [line.time_ns for line in lines] == [T0 + 3 * NS, T0 + 4 * NS, T0 + 5 * NS, T0 + 6 * NS]
    assert lines[0].time == pytest.approx((T0 + 3 * NS) / NS)


def test_text_keeps_spaces_and_any_bytes(log_path):
    write_records(log_path, [(0, "stdout", b"  two  spaces \xff\xfe\r", False)])
    assert texts(read_log(log_path)) == [("stdout", b"  two  spaces \xff\xfe\r\n")]


def test_garbage_lines_are_skipped(log_path):
    write_records(log_path, [(0, "stdout", b"one", False)])
    with open(log_path, "ab") as log_file:
        log_file.write(b"garbage\n")
        log_file.write(b"2026-11-28T22:06:43Z stdin F nope\n")
        log_file.write(b"2026-11-28T22:06:43Z stdout X nope\n")
        log_file.write(b"2026-13-28T22:06:43Z stdout F bad month\n")
        log_file.write(b"\xff\xfe stdout F bad time\n")
        log_file.write(b"\n")
    write_records(log_path, [(1, "stdout", b"two", False)])
    with open(log_path, "ab") as log_file:
        log_file.write(b"2026-11-28T22:06:45Z stdout F unterminated, still being written")
    assert texts(read_log(log_path)) == [("stdout", b"one\n"), ("stdout", b"two\n")]
    assert texts(read_log(log_path, tail=5)) == [("stdout", b"one\n"), ("stdout", b"two\n")]


def test_missing_log_reads_as_empty(log_path):
    assert list(read_log(log_path)) == []
    assert list(read_log(log_path, tail=3)) == []


def _random_records(count, seed):
    rng = random.Random(seed)
    records = []
    for i in range(count):
        stream = rng.choice(["stdout", "stdout", "stderr"])
        text = b"%d-" % i + b"x" * rng.randrange(0, 300)
        records.append((i / 1000, stream, text, rng.random() < 0.3))
    # End on unfinished lines of both streams, which a full read yields last.
    return records + [(count / 1000, "stderr", b"err tail", True), ((count + 1) / 1000, "stdout", b"out tail", True)]


@pytest.mark.parametrize("block_size", [7, 100, rotatingfile.BLOCK_SIZE])
def test_tail_equals_the_end_of_a_full_read(log_path, monkeypatch, block_size):
    monkeypatch.setattr(rotatingfile, "BLOCK_SIZE", block_size)
    write_records(log_path, _random_records(3000, seed=block_size))
    assert os.path.getsize(log_path) > 8 * rotatingfile.BLOCK_SIZE or block_size == rotatingfile.BLOCK_SIZE
    everything = list(read_log(log_path))
    for count in (1, 2, 3, 10, 57, len(everything) - 1, len(everything), len(everything) + 5):
        assert list(read_log(log_path, tail=count)) == everything[-count:], count
    assert list(read_log(log_path, tail=0)) == []


def test_tail_of_a_big_log_reads_only_its_end(log_path, monkeypatch):
    write_records(log_path, [(i / 1000, "stdout", b"line %d" % i + b"." * 100, False) for i in range(50_000)])
    assert os.path.getsize(log_path) > 5_000_000
    reads = []
    real_pread = os.pread
    monkeypatch.setattr(rotatingfile.os, "pread", lambda fd, n, off: reads.append(n) or real_pread(fd, n, off))
    assert texts(read_log(log_path, tail=3)) == [("stdout", b"line %d" % i + b"." * 100 + b"\n") for i in (49_997, 49_998, 49_999)]
    assert sum(reads) < 4 * rotatingfile.BLOCK_SIZE


def test_since_and_until_filter_lines(log_path):
    write_records(log_path, [(0, "stdout", b"a", False), (10, "stdout", b"b", False), (20, "stderr", b"c", False)])
    since = parse_time("2026-11-28T22:06:48Z")  # T0 + 5 s
    assert texts(read_log(log_path, since=since)) == [("stdout", b"b\n"), ("stderr", b"c\n")]
    assert texts(read_log(log_path, since=since, until=(T0 + 15 * NS) / NS)) == [("stdout", b"b\n")]
    assert texts(read_log(log_path, since=parse_time(str(T0 // NS + 15)))) == [("stderr", b"c\n")]
    assert texts(read_log(log_path, tail=2, since=since)) == [("stdout", b"b\n"), ("stderr", b"c\n")]


def test_since_as_a_duration_counts_back_from_now(log_path):
    now_ns = time.time_ns()
    with open(log_path, "wb") as log_file:
        log_file.write(encode_record(now_ns - 7200 * NS, "stdout", b"two hours ago", partial=False))
        log_file.write(encode_record(now_ns - 60 * NS, "stdout", b"a minute ago", partial=False))
    assert texts(read_log(log_path, since=parse_time("1h"))) == [("stdout", b"a minute ago\n")]
    assert texts(read_log(log_path, since=parse_time("2h30m"), until=parse_time("1h"))) == [
        ("stdout", b"two hours ago\n")
    ]


def test_rotated_log_is_read_first_and_partials_join_across_it(log_path, monkeypatch):
    write_records(log_path + ".1", [(0, "stdout", b"first", False), (1, "stdout", b"sec", True)])
    write_records(log_path, [(2, "stdout", b"ond", False), (3, "stderr", b"third", False)])
    expected = [("stdout", b"first\n"), ("stdout", b"second\n"), ("stderr", b"third\n")]
    assert texts(read_log(log_path)) == expected
    monkeypatch.setattr(rotatingfile, "BLOCK_SIZE", 10)
    assert texts(read_log(log_path, tail=2)) == expected[1:]
    assert texts(read_log(log_path, tail=3)) == expected


def test_follow_log_yields_existing_then_new_lines_until_not_running(log_path):
    write_records(log_path, [(0, "stdout", b"old", False)])
    running = threading.Event()
    running.set()

    def container():
        time.sleep(0.2)
        write_records(log_path, [(1, "stdout", b"new ", True)])
        time.sleep(0.2)
        write_records(log_path, [(2, "stdout", b"line", False), (3, "stderr", b"err", False)])
        write_records(log_path, [(4, "stdout", b"last words", True)])
        running.clear()

    thread = threading.Thread(target=container)
    thread.start()
    lines = list(follow_log(log_path, running.is_set, poll_interval=0.02))
    thread.join()
    assert texts(lines) == [
        ("stdout", b"old\n"),
        ("stdout", b"new line\n"),
        ("stderr", b"err\n"),
        ("stdout", b"last words"),
    ]


def test_follow_log_with_tail_and_rotation(log_path, monkeypatch):
    write_records(log_path, [(i, "stdout", b"%d" % i, False) for i in range(10)])
    running = threading.Event()
    running.set()

    def container():
        time.sleep(0.2)
        write_records(log_path, [(10, "stdout", b"10", False)])
        time.sleep(0.2)
        os.rename(log_path, log_path + ".1")  # what the monitor does past max_size
        write_records(log_path, [(11, "stdout", b"11", False)])
        time.sleep(0.2)
        running.clear()

    thread = threading.Thread(target=container)
    thread.start()
    lines = list(follow_log(log_path, running.is_set, tail=2, poll_interval=0.02))
    thread.join()
    assert [line.text for line in lines] == [b"8\n", b"9\n", b"10\n", b"11\n"]


def test_follow_log_waits_for_the_log_to_appear_and_stops_at_until(log_path):
    threading.Timer(0.2, write_records, args=(log_path, [(0, "stdout", b"hi", False)])).start()
    started = time.monotonic()
    lines = list(follow_log(log_path, lambda: True, until=time.time() + 0.6, poll_interval=0.02))
    assert texts(lines) == [("stdout", b"hi\n")]
    assert time.monotonic() - started < 3


def test_write_lines_splits_streams_and_prefixes_timestamps():
    lines = [
        LogLine(T0 + 120_000_000, "stdout", b"out\n"),
        LogLine(T0, "stderr", b"err\n"),
        LogLine(T0 + 5, "stdout", b"partial"),
    ]
    out, err = io.BytesIO(), io.BytesIO()
    write_lines(lines, out, err, timestamps=False)
    assert (out.getvalue(), err.getvalue()) == (b"out\npartial", b"err\n")
    out, err = io.BytesIO(), io.BytesIO()
    write_lines(lines, out, err, timestamps=True)
    assert out.getvalue() == b"2026-11-28T22:06:43.12Z out\n2026-11-28T22:06:43.000000005Z partial"
    assert err.getvalue() == b"2026-11-28T22:06:43Z err\n"
