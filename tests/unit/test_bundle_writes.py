"""A start or a restore writes the bundle's files again: one that holds the
content already is left alone (no truncation: ext4 takes a journal handle
for it), one that differs, is shorter or longer, is rewritten."""

import os

from husk.engine import spec


def test_same_content_is_not_rewritten_and_other_content_is(tmp_path):
    path = tmp_path / "hosts"
    spec._write(str(tmp_path), "hosts", "127.0.0.1\tlocalhost\n", mode=0o600)
    assert path.read_text() == "127.0.0.1\tlocalhost\n" and path.stat().st_mode & 0o777 == 0o600
    os.utime(path, ns=(1, 1))
    spec._write(str(tmp_path), "hosts", "127.0.0.1\tlocalhost\n")
    assert path.stat().st_mtime_ns == 1, "an identical file was rewritten"
    for content in ("127.0.0.1\tlocalhost\n10.0.0.2\tdb\n", "127.0.0.1\n", "", "ü\n"):
        spec._write(str(tmp_path), "hosts", content)
        assert path.read_text() == content
