"""husk.api.documents.encode: the service's JSON bytes are what json.dumps means.

The encoder is msgspec for speed (see bench/api.py); these tests pin that a
client decoding the bytes gets the same document json.dumps would have given,
including for strings msgspec cannot encode as UTF-8 (lone surrogates from
paths that are not UTF-8), which fall back to json.dumps' escapes.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from husk.api.documents import encode

_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text() | st.floats(
    allow_nan=False, allow_infinity=False)
_documents = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(), inner, max_size=4), max_leaves=20)


@given(_documents)
def test_same_document_as_json_dumps(document):
    assert json.loads(encode(document)) == json.loads(json.dumps(document))


def test_lone_surrogate_is_escaped_not_an_error():
    name = b"/data/caf\xe9".decode("utf-8", "surrogateescape")
    data = encode({"Source": name, "Names": ["/x"]})
    assert b"\\udce9" in data
    assert json.loads(data) == {"Source": name, "Names": ["/x"]}


def test_container_list_shape_is_compact_utf8():
    data = encode([{"Id": "ab", "Labels": {"k": "\u00e9"}, "Created": 1}])
    assert data == '[{"Id":"ab","Labels":{"k":"\u00e9"},"Created":1}]'.encode()
