"""`push IMAGE docker-archive:PATH` (or oci-archive:) into a directory that does not exist
fails as podman 4.3's does (exit 125, `initializing destination ...: opening file "PATH"`),
naming the path the user gave, never the temporary file written beside it."""

from __future__ import annotations

from husk.testing import IMAGE


def test_push_to_a_missing_directory_names_the_given_path(husk, tmp_path):
    for transport in ("docker-archive", "oci-archive"):
        path = str(tmp_path / "missing" / "x.tar")
        done = husk("push", IMAGE, f"{transport}:{path}")
        assert done.returncode == 125, done.stderr
        assert done.stderr == (f"Error: initializing destination {transport}:{path}: "
                               f'opening file "{path}": no such file or directory\n')
    done = husk("save", "-o", str(tmp_path / "missing" / "y.tar"), IMAGE)
    assert (done.returncode, ".tmp" in done.stderr) == (125, False), done.stderr
    assert str(tmp_path / "missing" / "y.tar") in done.stderr
