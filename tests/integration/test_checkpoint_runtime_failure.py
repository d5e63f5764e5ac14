"""A checkpoint whose runtime fails before CRIU runs reports the runtime's error alone: the
"(CRIU's log: ...)" note is for a log this run's CRIU wrote (husk_criu.checkpoint)."""

from __future__ import annotations

import os
import shutil

from husk.testing import IMAGE

#: runc as itself, except that its checkpoint fails before it starts CRIU
FAILING_RUNC = """#!/bin/sh
for a; do [ "$a" = checkpoint ] && { echo "runc: checkpoint refused before criu" >&2; exit 1; }; done
exec RUNC "$@"
"""


def test_a_runtime_that_fails_before_criu_gets_no_log_note(husk_envs, tmp_path):
    env = husk_envs("runc")
    env("run", "-d", "--name", "crf", IMAGE, "sleep", "600", check=True)
    wrapper = tmp_path / "bin" / "runc"
    wrapper.parent.mkdir()
    runc = shutil.which("runc")
    wrapper.write_text(FAILING_RUNC.replace("RUNC", runc))
    wrapper.chmod(0o755)
    env.extra_env["PATH"] = f"{wrapper.parent}:{os.environ['PATH']}"
    try:
        done = env("container", "checkpoint", "crf", timeout=120)
    finally:
        del env.extra_env["PATH"]
    assert (done.returncode, done.stderr) == (125, "Error: runc: checkpoint refused before criu\n")
    assert env("inspect", "--format", "{{.State.Status}}", "crf").stdout == "running\n"
    env("rm", "-f", "-t", "0", "crf", check=True)
