"""Resource limit values (husk.engine.resources) and top's column choice (husk.engine.top): pure logic."""

from __future__ import annotations

import os

import pytest

from husk.engine import resources, top
from husk.define import InvalidArgument
from husk.state.records import Resources


@pytest.mark.parametrize("text, expected", [
    ("64m", 64 << 20), ("64M", 64 << 20), ("64MiB", 64 << 20), ("64mb", 64 << 20), ("1.5g", 3 << 29),
    ("7000000", 7_000_000), ("8192k", 8 << 20), ("0", 0), (64 << 20, 64 << 20),
])
def test_memory_values(text, expected):
    assert resources.parse_memory(text) == expected


@pytest.mark.parametrize("text, message", [
    ("abc", "invalid memory value"), ("64x", "invalid memory value"), ("-1", "invalid memory value"),
    ("5m", "minimum memory limit allowed is 6MB"), ("", "invalid memory value"), (-5, "must be 0"),
])
def test_bad_memory_values(text, message):
    with pytest.raises(InvalidArgument, match=message):
        resources.parse_memory(text)


def test_cpus_are_nano_cpus_within_the_hosts_count():
    assert resources.parse_cpus("1.5") == 1_500_000_000
    assert resources.parse_cpus(0) == 0
    for bad in ("0.001", str(os.cpu_count() + 1), "nan", "inf", "x", "-1"):
        with pytest.raises(InvalidArgument):
            resources.parse_cpus(bad)


def test_limits_change_only_what_is_given_and_check_each_value():
    base = resources.limits(memory="64m", cpus=0.5)
    assert base == Resources(memory=64 << 20, nano_cpus=500_000_000, cpu_shares=0, pids_limit=2048)
    changed = resources.limits(base, pids_limit=-1, cpu_shares="300")
    assert changed == Resources(memory=64 << 20, nano_cpus=500_000_000, cpu_shares=300, pids_limit=0)
    assert base.pids_limit == 2048  # the base is not modified
    for kwargs in ({"cpu_shares": 1}, {"cpu_shares": "x"}, {"pids_limit": -2}, {"cpus": 1, "nano_cpus": 10**9}):
        with pytest.raises(InvalidArgument):
            resources.limits(**kwargs)


def test_oci_forms():
    limited = Resources(memory=64 << 20, nano_cpus=250_000_000, cpu_shares=512, pids_limit=100)
    assert resources.oci_resources(limited) == {"memory": {"limit": 64 << 20},
                                                "cpu": {"shares": 512, "quota": 25_000, "period": 100_000},
                                                "pids": {"limit": 100}}
    assert resources.oci_resources(Resources(pids_limit=0)) == {}
    assert resources.update_document(Resources(pids_limit=0)) == {
        "memory": {"limit": -1}, "cpu": {"shares": 1024, "quota": -1, "period": 100_000}, "pids": {"limit": -1}}


@pytest.mark.parametrize("descriptors, titles", [
    (None, ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]),
    (["-ef"], ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]),
    (["-e", "-f"], ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]),
    (["aux"], ["USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "TTY", "STAT", "START", "TIME", "COMMAND"]),
    (["-o", "pid,comm"], ["PID", "COMMAND"]),
    (["pid,user", "args"], ["PID", "USER", "COMMAND"]),
    (["%p", "%U"], ["PID", "USER"]),
])
def test_top_columns(descriptors, titles):
    assert [title for title, _ in top.columns(descriptors)] == titles


@pytest.mark.parametrize("descriptors", [["bogus"], ["-o"], ["--bogus"], ["pid", "-x"]])
def test_top_refuses_unknown_descriptors(descriptors):
    with pytest.raises(InvalidArgument):
        top.columns(descriptors)


def test_top_reads_this_process_from_proc():
    titles, rows = top.processes(os.getpid(), "/", ["pid", "hpid", "comm", "state"])
    assert titles == ["PID", "HPID", "COMMAND", "STATE"]
    assert [str(os.getpid())] in [[row[1]] for row in rows]
