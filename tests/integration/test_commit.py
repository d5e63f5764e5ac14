"""commit and diff: a container's changes read from its overlay upper directory."""

import json

from husk.testing import IMAGE, needs_docker_cli


def test_diff_and_commit(husk):
    husk("run", "-d", "--name", "c1", IMAGE, "sh", "-c",
         "echo new > /newfile; rm /bin/ls; mkdir -p /etc/x; ln -s /etc/shadow /link; sleep 100", check=True)
    husk("exec", "c1", "sh", "-c", "while [ ! -L /link ]; do sleep 0.05; done", check=True)  # its changes are made
    lines = husk("diff", "c1", check=True).stdout.splitlines()
    assert {"A /newfile", "D /bin/ls", "C /bin", "A /etc/x", "A /link"} <= set(lines)
    document = json.loads(husk("container", "diff", "--format", "json", "c1", check=True).stdout)
    assert "/bin/ls" in document["deleted"] and "/newfile" in document["added"]
    committed = husk("commit", "-q", "-c", "ENV=FOO=bar", "-m", "msg", "-a", "me", "c1", "localhost/committed:1")
    assert committed.returncode == 0, committed.stderr
    image_id = committed.stdout.strip()
    assert len(image_id) == 64
    assert husk("ps", "-q", "--filter", "status=running", check=True).stdout.strip()  # unpaused again
    run = husk("run", "--rm", "localhost/committed:1", "sh", "-c",
               "cat /newfile; test -e /bin/ls || echo gone; readlink /link; echo $FOO", check=True)
    assert run.stdout == "new\ngone\n/etc/shadow\nbar\n"
    assert "D /bin/ls" in husk("image", "diff", "localhost/committed:1", check=True).stdout
    history = husk("history", "--format", "{{.CreatedBy}} {{.Comment}}", "localhost/committed:1", check=True)
    assert history.stdout.splitlines()[0] == "husk commit msg"
    inspect = json.loads(husk("image", "inspect", "localhost/committed:1", check=True).stdout)[0]
    assert len(inspect["RootFS"]["Layers"]) == 2


def test_commit_of_a_missing_container(husk):
    result = husk("commit", "nope", "localhost/x")
    assert result.returncode == 125 and result.stderr.count("\n") == 1, result.stderr


def test_image_prune(husk):
    dangling = husk("commit", "-q", husk("create", IMAGE, check=True).stdout.strip(), check=True).stdout.strip()
    used = husk("images", "-q", "--no-trunc", IMAGE, check=True).stdout.strip().removeprefix("sha256:")
    assert husk("image", "prune", "-f", "--filter", "label=none").stdout == ""
    assert husk("image", "prune", "-f", check=True).stdout == dangling + "\n"
    refused = husk("image", "prune", "-f", "--filter", "bogus=1")
    assert refused.returncode == 125 and "invalid filter" in refused.stderr
    assert husk("image", "prune", "-af", check=True).stdout == ""  # busybox is used by the container
    assert husk("images", "-q", "--no-trunc", check=True).stdout.strip().removeprefix("sha256:") == used


@needs_docker_cli
def test_commit_and_prune_through_the_api(api):
    created = api.docker("create", IMAGE, "sh", "-c", "echo x > /made")
    assert created.returncode == 0, created.stderr
    container = created.stdout.decode().strip()
    assert api.docker("start", container).returncode == 0
    api.docker("wait", container)
    committed = api.docker("commit", "-m", "via docker", container, "localhost/via-api:1")
    assert committed.returncode == 0 and committed.stdout.decode().startswith("sha256:"), committed.stderr
    status, _, body = api.request("POST", f"/v4.3.0/libpod/commit?container={container}&repo=localhost/lp&tag=2")
    assert status == 200 and len(body["Id"]) == 64
    ran = api.docker("run", "--rm", "localhost/via-api:1", "cat", "/made")
    assert ran.stdout == b"x\n", ran.stderr
    dangling = api.request("POST", f"/v4.3.0/libpod/commit?container={container}")[2]["Id"]
    status, _, body = api.request("POST", "/v1.41/images/prune")
    assert status == 200 and body["ImagesDeleted"] == [{"Deleted": "sha256:" + dangling}]
    status, _, body = api.request("POST", "/v1.41/images/prune?filters=" + '{"bogus":["1"]}')
    assert status == 400
