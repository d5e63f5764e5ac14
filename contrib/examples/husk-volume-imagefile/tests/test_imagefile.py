"""The imagefile driver, run by real husk through the husk.testing fixtures.

Loaded the way a site loads a plugin without installing it (named in the
config file, on PYTHONPATH); installed (``pip install -e .``), its entry
point loads it the same way.
"""

import json
import os
import pathlib

import pytest

HERE = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def husk_with_driver(husk):
    husk.load_plugin(str(HERE), "husk_imagefile")
    return husk


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as mountinfo:
        return any(line.split()[4] == path for line in mountinfo)


def test_a_volume_in_an_image_file(husk_with_driver):
    husk = husk_with_driver
    husk("volume", "create", "--driver", "imagefile", "--opt", "size=8388608", "db", check=True)
    document = json.loads(husk("volume", "inspect", "db", check=True).stdout)[0]
    assert document["Driver"] == "imagefile"
    image = os.path.join(husk.root, "volume-drivers", "imagefile", "db.img")
    assert os.path.getsize(image) == 8388608
    out = husk("run", "--rm", "-v", "db:/data", "busybox", "sh", "-c",
               "echo kept > /data/f; grep ' /data ' /proc/mounts | cut -d' ' -f3", check=True).stdout
    assert out == "ext4\n"
    assert not _mounted(document["Mountpoint"])  # unmounted after the last user
    assert husk("run", "--rm", "-v", "db:/data", "busybox", "cat", "/data/f", check=True).stdout == "kept\n"
    husk("volume", "rm", "db", check=True)
    assert not os.path.exists(image)


def test_bad_options_are_refused(husk_with_driver):
    husk = husk_with_driver
    bad = husk("volume", "create", "--driver", "imagefile", "--opt", "type=tmpfs", "x")
    assert bad.returncode == 125 and "only size" in bad.stderr
    assert husk("volume", "ls", "-q", check=True).stdout == ""
