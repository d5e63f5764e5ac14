"""The monitor script's copy of the attach protocol, and its pure helpers."""

from __future__ import annotations

import os
import pathlib
import re
import signal

from husk.engine import attach_protocol
from husk import monitor
from husk.monitor import base, failure

PROTOCOL_NAMES = ("STREAM_STDOUT", "STREAM_STDERR", "MSG_STDIN", "MSG_CLOSE_STDIN", "MSG_RESIZE", "MSG_PACE", "MSG_CLEANUP",
                  "MSG_SYNC", "SYNC_REPLY", "MAX_DATA")


def test_monitor_copy_of_protocol_agrees():
    for name in PROTOCOL_NAMES:
        assert getattr(base, name) == getattr(attach_protocol, name), name


def test_monitor_imports_no_husk_module():
    """Only its own parts (``from .x``): the monitor runs without the husk package."""
    for path in pathlib.Path(monitor.__file__).parent.glob("*.py"):
        source = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+(\.\.|husk)", source, re.MULTILINE), path.name


def test_k8s_records_full_and_partial_lines():
    records = monitor.k8s_records(monitor.STREAM_STDERR, b"one\ntwo\nthr").decode().splitlines()
    assert [r.split(" ", 1)[1] for r in records] == ["stderr F one", "stderr F two", "stderr P thr"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", records[0].split(" ")[0])


def test_k8s_records_empty_line_is_a_full_record():
    assert monitor.k8s_records(monitor.STREAM_STDOUT, b"\n").split(b" ", 1)[1] == b"stdout F \n"


def test_exit_code_of_a_signal_is_128_plus_it():
    pid = os.fork()
    if pid == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert monitor.exit_code(status) == 137


def test_log_rotates_past_max_size(tmp_path):
    path = str(tmp_path / "ctr.log")
    log = monitor.LogWriter(path, max_size=100)
    for _ in range(3):
        log.write(b"x" * 60 + b"\n")
    log.close()
    assert os.path.getsize(path) == 61
    assert os.path.getsize(path + ".1") == 61


def test_log_write_failure_is_swallowed():
    log = monitor.LogWriter("/dev/full", max_size=0)
    log.write(b"lost\n")
    log.close()


def test_last_output_line_strips_logrus_decoration():
    output = b'time="x" level=warning msg="w"\ntime="x" level=error msg="exec: \\"sh\\": not found"\n'
    assert failure.last_output_line(output) == 'exec: "sh": not found'
