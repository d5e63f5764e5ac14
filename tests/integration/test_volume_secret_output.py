"""volume and secret output next to podman 4.3's own, run on private roots
here: table headers, JSON indentation (5 for volume inspect, 2 for volume ls
--format json with its empty maps), key order, secret inspect's driver path."""

import json
import re
import shutil
import subprocess
import tempfile

import pytest

needs_podman = pytest.mark.skipif(shutil.which("podman") is None, reason="no podman to compare with")


@pytest.fixture
def podman():
    root = tempfile.mkdtemp(prefix="pdo-", dir="/tmp")

    def run(*args, input=None):
        result = subprocess.run(["podman", "--root", f"{root}/r", "--runroot", f"{root}/rr", "--events-backend",
                                 "none", *args], input=input, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    run.root = f"{root}/r"
    yield run
    subprocess.run(["podman", "--root", f"{root}/r", "--runroot", f"{root}/rr", "system", "reset", "--force"],
                   capture_output=True, timeout=120)
    shutil.rmtree(root, ignore_errors=True)


def _shape(text: str, root: str) -> str:
    """The output with what differs by nature (timestamps, ids, roots, ages) masked."""
    text = text.replace(root, "ROOT")
    text = re.sub(r'"\d{4}-\d\d-\d\dT[^"]+"', '"TIME"', text)
    text = re.sub(r"\b[0-9a-f]{25}\b", "ID", text)
    return re.sub(r"(Less than a second|\d+ seconds?) ago", "AGO", text)


@needs_podman
def test_volume_and_secret_output_match_podman(husk, podman):
    for tool, root in ((husk, husk.root), (podman, podman.root)):
        run = (lambda *a, input=None: husk(*a, input=input, check=True).stdout) if tool is husk else tool
        outputs = {}
        run("volume", "create", "--label", "z=1", "--label", "a=2", "vol1")
        run("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "vol2")
        run("secret", "create", "--label", "k=v", "sec1", "-", input="value")
        for args in (("volume", "ls"), ("volume", "ls", "--format", "json"), ("volume", "inspect", "vol1", "vol2"),
                     ("secret", "ls"), ("secret", "ls", "--format", "{{json .}}"), ("secret", "inspect", "sec1")):
            outputs[args] = _shape(run(*args), root)
        if tool is husk:
            mine = outputs
    for args, theirs in outputs.items():
        if args[-1] == "ls":  # tables: the columns (their widths follow the ages' lengths)
            mine[args], theirs = ([re.split(r" {2,}", line) for line in text.splitlines()]
                                  for text in (mine[args], theirs))
        assert mine[args] == theirs, args
    document = json.loads(mine[("secret", "inspect", "sec1")])[0]
    assert document["Spec"]["Driver"]["Options"] == {"path": "ROOT/secrets/filedriver"}


@needs_podman
def test_secret_ls_format_json_is_the_documents(husk, podman):
    """`secret ls --format json`: podman 4.3 prints the word `json` once a secret
    (a bug: it takes the word for a template); husk prints the secrets'
    documents, as `secret inspect` does, which is what later podmans print."""
    for run in (podman, lambda *a, input=None: husk(*a, input=input, check=True).stdout):
        run("secret", "create", "one", "-", input="1")
        run("secret", "create", "two", "-", input="2")
    assert podman("secret", "ls", "--format", "json") == "json\njson\n"
    listed = json.loads(husk("secret", "ls", "--format", "json", check=True).stdout)
    assert listed == json.loads(husk("secret", "inspect", "one", "two", check=True).stdout)
    assert [document["Spec"]["Name"] for document in listed] == ["one", "two"]
