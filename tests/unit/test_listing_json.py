"""husk.cli.listing._json: the CLI's JSON outputs (inspect, ps --format json, ls) through msgspec."""

import json

from husk.cli.listing import _json

DOCUMENT = {"Id": "abc", "Args": ["sleep", "1"], "State": {"Pid": 12, "Running": True, "Error": None},
            "Labels": {}, "Mounts": [], "Nested": [{}, {"a": [1, 2.5, -0.0, 0.1]}], "Quote": "\"\\\n\t<&>"}


def test_ascii_documents_print_as_json_dumps_did():
    for indent in (1, 4, 5):
        assert _json(DOCUMENT, indent) == json.dumps(DOCUMENT, indent=indent)
        assert _json([DOCUMENT], indent) == json.dumps([DOCUMENT], indent=indent)
    assert _json([], 4) == "[]"


def test_other_characters_print_as_utf8_as_podman_s():
    assert _json({"Labels": {"name": "caf\u00e9 \u6f22"}}, 4) == '{\n    "Labels": {\n        "name": "caf\u00e9 \u6f22"\n    }\n}'
