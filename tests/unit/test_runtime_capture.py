"""husk.engine.oci_runtime._capture, the one way a runtime command is run:
real processes (sh, cat), each call in an interpreter of its own so that a
hang fails the test instead of stalling it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

CALL = """
import sys
from husk.engine.oci_runtime import _capture
code, out, err = _capture(sys.argv[1:], {input}, {timeout})
print(code, len(out), len(err), out[:20])
"""


def _wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_an_input_larger_than_a_pipe_while_the_command_writes_back():
    """`cat` echoes 1 MiB: writing all of it before reading would fill both
    pipes and block forever; the input is written as the output is read."""
    script = CALL.format(input='"x" * (1 << 20)', timeout=120)
    result = subprocess.run([sys.executable, "-c", script, "cat"], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["0", str(1 << 20), "0", "x" * 20], result.stderr


def test_a_command_that_reads_nothing_gets_its_status():
    script = CALL.format(input='"x" * (1 << 20)', timeout=120)
    result = subprocess.run([sys.executable, "-c", script, "sh", "-c", "echo no >&2; exit 3"],
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["3", "0", "3"], result.stderr


#: marks (a file named by the READY variable) that the caller waits in _capture's poll
POLLING = """
import os, select, types
from husk.engine import oci_runtime

class Poll:
    def __init__(self):
        self.real = select.poll()
        self.register, self.unregister = self.real.register, self.real.unregister

    def poll(self, *args):
        open(os.environ["READY"], "w").close()
        return self.real.poll(*args)

oci_runtime.select = types.SimpleNamespace(poll=Poll, POLLIN=select.POLLIN, POLLOUT=select.POLLOUT)
"""


def test_ctrl_c_kills_the_command_instead_of_waiting_for_it(tmp_path):
    """KeyboardInterrupt while a runtime command runs: the command is killed
    and reaped, and the interrupt goes on at once (a hung runtime used to
    hold husk until it exited).  The interrupt comes once the caller polls
    (sent as soon as the command runs, it could land before _capture's
    try, on a loaded machine: nobody there to kill the command)."""
    pid_file, ready = tmp_path / "pid", tmp_path / "ready"
    command = ["sh", "-c", f'echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 600']
    caller = subprocess.Popen([sys.executable, "-c", POLLING + CALL.format(input=None, timeout=None), *command],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "READY": str(ready)})
    try:
        _wait_for(lambda: pid_file.exists() and ready.exists())
        pid = int(pid_file.read_text())
        caller.send_signal(signal.SIGINT)
        _, stderr = caller.communicate(timeout=60)
        assert "KeyboardInterrupt" in stderr
        assert not os.path.exists(f"/proc/{pid}"), "the command outlived its caller"
    finally:
        caller.kill()
        caller.wait()
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_the_command_gets_stdio_only_and_default_signals():
    """What Popen gave the runtime, _capture's posix_spawn gives it too: no
    descriptor of husk's (an inheritable one, as LMDB's data file is, stays
    behind), SIGPIPE not ignored (Python ignores it), and an import of
    neither subprocess nor selectors (~1.2 ms of each lifecycle command)."""
    script = """
import os, sys
from husk.engine.oci_runtime import _capture
os.dup2(os.open(os.devnull, os.O_RDONLY), 50, inheritable=True)
code, out, err = _capture(["sh", "-c", "test -e /proc/self/fd/50 && echo leaked; grep SigIgn /proc/self/status"],
                          None, 60)
print(code, out.split(), sorted(m for m in ("subprocess", "selectors") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith("0 ['SigIgn:', '") and result.stdout.endswith("'] []\n"), result.stdout
    ignored = int(result.stdout.split("'")[3], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1)), result.stdout


def test_a_caller_without_stdio_still_gives_the_command_its_pipes():
    """Started with 0, 1 and 2 closed (the pipes then get those numbers), the
    command still reads its input and writes its output through them."""
    script = """
import os
for fd in (0, 1, 2):
    os.close(fd)
from husk.engine.oci_runtime import _capture
code, out, err = _capture(["sh", "-c", "cat; echo e >&2"], "in", 60)
with open(os.environ["OUT"], "w") as handle:
    handle.write(repr((code, out, err)))
"""
    out_file = f"/tmp/husk-capture-{os.getpid()}"
    try:
        subprocess.run([sys.executable, "-c", script], env={**os.environ, "OUT": out_file}, timeout=120,
                       stdin=subprocess.DEVNULL, capture_output=True)
        with open(out_file) as handle:
            assert handle.read() == repr((0, "in", "e\n"))
    finally:
        if os.path.exists(out_file):
            os.unlink(out_file)
