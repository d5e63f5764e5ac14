"""husk.build.cache.image_fields: how FROM's base and a --cache-from image become a step's state."""

import json

from husk.build.cache import image_fields
from husk.state.records import ImageConfig, ImageRecord

LAYER = "sha256:" + "a" * 64


def test_an_image_with_its_config_document():
    document = {"architecture": "arm64", "os": "linux", "variant": "v8", "config": {"Cmd": ["sh"]},
                "history": [{"created_by": "x"}], "rootfs": {"type": "layers", "diff_ids": [LAYER]}}
    image = ImageRecord("b" * 64, [], [LAYER], 0.0, size=7, config_json=json.dumps(document))
    assert image_fields(image) == {"layers": [LAYER], "config": {"Cmd": ["sh"]}, "history": [{"created_by": "x"}],
                                   "size": 7, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}


def test_an_old_record_without_one_gets_it_made_from_the_record():
    image = ImageRecord("b" * 64, [], [LAYER], 0.0, config=ImageConfig(cmd=["true"]))
    fields = image_fields(image)
    assert (fields["layers"], fields["config"]["Cmd"], fields["history"]) == ([LAYER], ["true"], [])
    assert fields["platform"]["os"] == "linux"
