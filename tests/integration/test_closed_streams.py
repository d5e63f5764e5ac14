"""husk started with a standard stream closed (`2>&-`, `>&-`) behaves as podman 4.3: what
would go to the closed stream goes nowhere, the exit code is the verb's, and no message
lands on the other stream (husk.cli._open_closed_streams)."""

from __future__ import annotations

import subprocess

from husk.testing import HUSK, IMAGE


def _closed(husk, closing: str, *args: str) -> subprocess.CompletedProcess:
    """`husk args` through sh with `closing` (`2>&-`, `>&-`, `<&-`): the other streams captured."""
    command = " ".join(f"'{arg}'" for arg in (HUSK, *husk.global_args, *args)) + f" {closing}"
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120, env=husk.env())


def test_a_closed_stderr_or_stdout_changes_no_exit_code(husk):
    done = _closed(husk, "2>&-", "version")
    assert (done.returncode, done.stdout.splitlines()[0]) == (0, "Client:       husk")
    done = _closed(husk, ">&-", "version")
    assert (done.returncode, done.stderr) == (0, "")
    done = _closed(husk, "2>&- <&-", "inspect", "csn-nosuch")
    assert (done.returncode, done.stdout) == (125, "[]\n")  # podman's; the error to nowhere, not to stdout
    done = _closed(husk, "2>&-", "run", "--rm", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout) == (3, "out\n")
