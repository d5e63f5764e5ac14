"""The example plugin, run by real husk through the husk.testing fixtures.

Loaded the way a site loads a plugin without installing it (named in the
config file, on PYTHONPATH), so the project's suite runs these tests too;
installed (``pip install -e .``), its entry point loads it the same way.
"""

import json
import os
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))
from husk_example import ANNOTATION  # noqa: E402  (found through HERE)


@pytest.fixture
def husk(husk):
    husk.load_plugin(str(HERE), "husk_example")
    return husk


def test_plugin_is_loaded(husk):
    loaded = husk("info", "--format", "json", check=True).stdout
    # named by its entry point when installed, by its module when named in the config
    assert {"example", "husk_example"} & set(json.loads(loaded)["Plugins"]["Loaded"])


def test_pre_init_sets_the_greeting_and_annotation(husk):
    result = husk("run", "--name", "greeted", "--label", "greeting=hi", "busybox",
                  "sh", "-c", "echo $HUSK_GREETING", check=True)
    assert result.stdout == "hi\n"
    container_id = husk("inspect", "--format", "{{.Id}}", "greeted", check=True).stdout.strip()
    with open(os.path.join(husk.root, "containers", container_id, "userdata", "config.json")) as handle:
        assert json.load(handle)["annotations"][ANNOTATION] == "hi"


def test_start_logs_a_line(husk, tmp_path):
    log_file = tmp_path / "example.log"
    husk.extra_env["HUSK_EXAMPLE_LOG"] = str(log_file)
    husk("run", "--rm", "--name", "logged", "busybox", "true", check=True)
    assert "husk_example: started logged (" in log_file.read_text()
