"""`images --format json` prints podman 4.3's list form (libpod's ImageSummary, once per name,
Created in Unix seconds and CreatedAt last), locally and through a service alike; the remote
verb filters through the libpod API's `filters` and sorts as the local one."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

from husk.testing import HUSK, IMAGE

#: podman 4.3.1's keys, in its order (`podman images --format json` on this machine)
PODMAN_KEYS = ["Id", "ParentId", "RepoTags", "RepoDigests", "Size", "SharedSize", "VirtualSize", "Labels",
               "Containers", "Names", "Digest", "History", "Created", "CreatedAt"]


def _remote(service, *args: str) -> str:
    done = subprocess.run([HUSK, "--url", f"unix://{service.socket_path}", *args], capture_output=True, text=True,
                          timeout=120, env=service.env.env())
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def test_images_json_is_podmans_list_form(husk):
    husk("tag", IMAGE, "localhost/ilj-two:2", check=True)
    husk("create", "--name", "ilj-user", IMAGE, "true", check=True)
    for template in ("json", "{{json .}}", "{{ json . }}"):
        documents = json.loads(husk("images", "--format", template, check=True).stdout)
        assert len(documents) == 2 and documents[0] == documents[1], template  # once per name
        document = documents[0]
        assert list(document) == PODMAN_KEYS, template
        assert document["RepoTags"] is None and document["Containers"] == 1 and document["SharedSize"] == 0
        assert sorted(document["Names"]) == sorted([IMAGE, "localhost/ilj-two:2"])
        assert isinstance(document["Created"], int) and document["CreatedAt"].endswith("Z")
        assert len(document["Id"]) == 64


def test_remote_images_json_filter_and_sort(api_crun):
    env = api_crun.env
    env("tag", IMAGE, "localhost/ilj-remote:1", check=True)
    empty = io.BytesIO()
    tarfile.open(fileobj=empty, mode="w").close()
    env("import", "--change", "LABEL ilj=yes", "-", "localhost/ilj-labelled:1", input=empty.getvalue(), check=True)
    local = json.loads(env("images", "--format", "json", check=True).stdout)
    remote = json.loads(_remote(api_crun, "images", "--format", "json"))
    assert remote == local and list(remote[0]) == [k for k in PODMAN_KEYS if k != "History" or "History" in remote[0]]
    for options in (("--filter", "label=ilj=yes"), ("--filter", "reference=*ilj-remote*"),
                    ("--sort", "repository"), ("--sort", "size"), ("--filter", "dangling=false", "--sort", "tag")):
        args = ("images", "--format", "{{.Repository}}:{{.Tag}}", *options)
        assert _remote(api_crun, *args) == env(*args, check=True).stdout, options
        ids = env("images", "--no-trunc", "--format", "{{.ID}}", *options, check=True).stdout.split()
        for documents in (env("images", "--format", "json", *options, check=True).stdout,
                          _remote(api_crun, "images", "--format", "json", *options)):
            assert [document["Id"] for document in json.loads(documents)] == ids, options  # its rows' order
    assert _remote(api_crun, "images", "--format", "{{.Repository}}", "--filter", "label=ilj=yes") \
        == "localhost/ilj-labelled\n"
