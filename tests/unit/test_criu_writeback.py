"""While CRIU dumps, the criu plugin hands the memory images it writes to
the disk (sync_file_range), so that the rootfs unmount after the dump does
not write them all at once; it stops with the dump and touches nothing else."""

import ctypes
import os
import threading
import time

from husk_criu import checkpoint


def test_memory_images_are_queued_for_writing_during_the_dump(tmp_path, monkeypatch):
    queued: list[str] = []
    seen = threading.Event()

    class Libc:
        @staticmethod
        def sync_file_range(fd, offset, length, flags):
            queued.append((os.readlink(f"/proc/self/fd/{fd}"), flags))
            seen.set()
            return 0

    monkeypatch.setattr(ctypes, "CDLL", lambda *args, **kwargs: Libc)
    (tmp_path / "inventory.img").write_bytes(b"x")
    with checkpoint._early_writeback(str(tmp_path)):
        (tmp_path / "pages-1.img").write_bytes(b"a" * 4096)
        assert seen.wait(60), "the images were never queued"
    assert {path for path, _ in queued} == {str(tmp_path / "pages-1.img")}
    assert {flags for _, flags in queued} == {checkpoint._SYNC_FILE_RANGE_WRITE}
    count = len(queued)
    time.sleep(checkpoint.WRITEBACK_PERIOD * 3)
    assert len(queued) == count, "the writer went on after the dump"
    assert not [t for t in threading.enumerate() if t.name == "husk-criu-writeback"]
