"""The example plugin, run by real husk through the husk.testing fixtures.

Install the plugin first (``pip install -e .`` in this directory) so that its
entry point is found, then run ``pytest`` here.
"""

import json
import os

from husk_example import ANNOTATION


def test_plugin_is_loaded(husk):
    loaded = husk("info", "--format", "json", check=True).stdout
    assert "example" in json.loads(loaded)["Plugins"]["Loaded"]


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
