"""`push IMAGE docker-archive:PATH` (or oci-archive:) into a directory that does not exist
fails as podman 4.3's does (exit 125, `initializing destination ...: opening file "PATH"`),
naming the path the user gave, never the temporary file written beside it; `dir:PATH`
whose parent does not exist fails (podman's), making no directories."""

from __future__ import annotations

import os

from husk.testing import IMAGE


def test_push_to_a_missing_directory_names_the_given_path(husk, tmp_path):
    for transport in ("docker-archive", "oci-archive"):
        path = str(tmp_path / "missing" / "x.tar")
        done = husk("push", IMAGE, f"{transport}:{path}")
        assert done.returncode == 125, done.stderr
        assert done.stderr == (f"Error: initializing destination {transport}:{path}: "
                               f'opening file "{path}": no such file or directory\n')
    done = husk("push", IMAGE, f"dir:{tmp_path / 'missing' / 'd'}")  # podman's: the parent must exist
    assert (done.returncode, os.path.exists(tmp_path / "missing")) == (125, False), done.stderr
    assert done.stderr == f"Error: initializing destination dir:{tmp_path / 'missing' / 'd'}: no such file or directory\n"
    husk("push", IMAGE, f"dir:{tmp_path / 'd'}", check=True)
    assert os.path.exists(tmp_path / "d" / "manifest.json")
    done = husk("save", "-o", str(tmp_path / "missing" / "y.tar"), IMAGE)
    assert (done.returncode, ".tmp" in done.stderr) == (125, False), done.stderr
    assert str(tmp_path / "missing" / "y.tar") in done.stderr
