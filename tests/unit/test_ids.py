"""The one id check (husk.state.paths.is_id) and the places that name a path after an id."""

from __future__ import annotations

import pytest

from husk.build.cache import Cache
from husk.state.paths import is_id

ID = "0123456789abcdef" * 4


@pytest.mark.parametrize("value", ["", ID[:-1], ID + "0", ID.upper(), ID + "\n", "../" + ID[3:], None, 7])
def test_is_id_refuses_anything_but_64_lowercase_hex(value):
    assert not is_id(value)


def test_is_id_takes_an_id():
    assert is_id(ID)


def test_a_build_cache_key_with_a_newline_names_no_file(tmp_path):
    """The cache's own pattern (`^...$` with match) let a trailing newline through."""
    cache = Cache(str(tmp_path))
    with pytest.raises(ValueError):
        cache._path(ID + "\n")
    assert cache._path(ID).endswith(ID)
