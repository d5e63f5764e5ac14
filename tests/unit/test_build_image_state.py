"""husk.build.builder.image_state: how FROM's base and a --cache-from image become a step's state."""

import json

from husk.build.builder import image_state
from husk.state.records import ImageConfig, ImageRecord

LAYER = "sha256:" + "a" * 64


def test_an_image_with_its_config_document():
    document = {"architecture": "arm64", "os": "linux", "variant": "v8", "config": {"Cmd": ["sh"]},
                "history": [{"created_by": "x"}], "rootfs": {"type": "layers", "diff_ids": [LAYER]}}
    image = ImageRecord("b" * 64, [], [LAYER], 0.0, size=7, config_json=json.dumps(document))
    state = image_state(image, "k")
    assert state.as_cached() == {"layers": [LAYER], "config": {"Cmd": ["sh"]}, "history": [{"created_by": "x"}],
                                 "size": 7, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}
    assert state.key == "k"


def test_an_old_record_without_one_gets_it_made_from_the_record():
    image = ImageRecord("b" * 64, [], [LAYER], 0.0, config=ImageConfig(cmd=["true"]))
    state = image_state(image, "k")
    assert (state.layers, state.config["Cmd"], state.history) == ([LAYER], ["true"], [])
    assert state.platform["os"] == "linux"
