"""husk.engine.oci_runtime.which: shutil.which's answer for a runtime's binary,
without importing shutil (bz2, lzma) on every runtime command (issue 20)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from husk.engine.oci_runtime import which


@pytest.mark.parametrize("name", ["sh", "crun", "runc", "no-such-runtime-binary", "/bin/sh", "/etc", "/etc/hostname"])
def test_which_answers_as_shutil_does(name):
    assert which(name) == shutil.which(name)


def test_which_skips_what_is_not_executable_and_directories(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "rt").write_text("")  # not executable
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "rt").mkdir()  # a directory
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "rt").write_text("#!/bin/sh\n")
    os.chmod(tmp_path / "c" / "rt", 0o755)
    monkeypatch.setenv("PATH", os.pathsep.join(str(tmp_path / d) for d in "abc"))
    assert which("rt") == str(tmp_path / "c" / "rt") == shutil.which("rt")


def test_a_runtime_command_imports_no_shutil():
    code = ("import sys; from husk.engine.oci_runtime import OCIRuntime\n"
            "class R(OCIRuntime): binary = 'sh'\n"
            "R('/nonexistent'); print('shutil' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_runtime_command_without_json_input_or_output_imports_no_json():
    """pause, unpause, kill, delete: json is imported by the commands whose
    input or output is JSON (state, update, a bundle's check), not with the
    backend (issue 20)."""
    code = ("import sys; from husk.engine.oci_runtime import OCIRuntime\n"
            "class R(OCIRuntime): binary = 'true'\n"
            "R('/nonexistent').pause('c'); print('json' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
