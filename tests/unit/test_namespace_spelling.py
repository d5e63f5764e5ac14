"""husk.formats.namespaces: the flag spelling and libpod's {nsmode, value}, both ways."""

from __future__ import annotations

import pytest

from husk.formats.namespaces import to_flag, to_spec


@pytest.mark.parametrize("flag, spec", [
    ("host", {"nsmode": "host", "value": ""}), ("private", {"nsmode": "private", "value": ""}),
    ("container:web", {"nsmode": "container", "value": "web"}),
    ("ns:/proc/1/ns/pid", {"nsmode": "path", "value": "/proc/1/ns/pid"}),
    ("auto:size=1024", {"nsmode": "auto", "value": "size=1024"}), ("bridge", {"nsmode": "bridge", "value": ""})])
def test_both_ways(flag, spec):
    assert to_spec(flag) == spec
    assert to_flag(**spec) == flag


def test_unset_stays_unset():
    assert to_flag("") == ""
