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
    committed = husk("commit", "-q", "-f", "docker", "-c", "ENV=FOO=bar", "-m", "msg", "-a", "me", "c1",
                     "localhost/committed:1")
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


def _top_layer_members(husk, image, tmp_path) -> dict[str, bytes]:
    """The committed image's last layer as `save` writes it: path -> content ("" for a non-file)."""
    import tarfile

    archive = tmp_path / "saved.tar"
    husk("save", "-o", str(archive), image, check=True)
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        with tarfile.open(fileobj=outer.extractfile(manifest[0]["Layers"][-1])) as layer:
            return {m.name: layer.extractfile(m).read() if m.isfile() else b"" for m in layer.getmembers()}


def test_commit_leaves_out_the_files_husk_binds(husk_rt, tmp_path):
    """/etc/hosts, /etc/hostname, /etc/resolv.conf, /run/.containerenv and a
    mounted secret are bound from husk's own files: the runtime's empty mount
    targets in the upper directory are neither in `diff` nor in the image, and
    what the container writes to them goes to the bound files."""
    husk = husk_rt
    husk("secret", "create", "token", "-", input="s3cr3t-value", check=True)
    husk("run", "--name", "w", "--secret", "token", "--secret", "token,type=env,target=TOKEN", IMAGE, "sh", "-c",
         "echo 10.9.9.9 extra >> /etc/hosts; echo mine > /etc/motd", check=True)
    assert not {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run/.containerenv", "/run/secrets/token"} \
        & {line[2:] for line in husk("diff", "w", check=True).stdout.splitlines()}
    husk("commit", "-q", "w", "localhost/placeholders:1", check=True)
    members = _top_layer_members(husk, "localhost/placeholders:1", tmp_path)
    assert members["etc/motd"] == b"mine\n"
    assert not {"etc/hosts", "etc/hostname", "etc/resolv.conf", "run/.containerenv", "run/secrets/token"} & set(members)
    assert all(b"s3cr3t-value" not in content for content in members.values())
    assert "s3cr3t-value" not in husk("image", "inspect", "localhost/placeholders:1", check=True).stdout
    ran = husk("run", "--rm", "localhost/placeholders:1", "sh", "-c",
               "cat /etc/motd; grep -c extra /etc/hosts; test -e /run/secrets/token || echo no-secret", check=False)
    assert ran.stdout == "mine\n0\nno-secret\n", ran.stderr


def test_commit_keeps_a_file_the_user_owns_at_a_bound_path(husk, tmp_path):
    """With --no-hosts on a network husk's /etc/hosts is not bound: what the
    container wrote there is a change of its own and committed (as podman)."""
    husk("run", "--name", "nh", "--no-hosts", IMAGE, "sh", "-c", "echo 10.1.1.1 mine > /etc/hosts", check=True)
    husk("commit", "-q", "nh", "localhost/nohosts:1", check=True)
    assert _top_layer_members(husk, "localhost/nohosts:1", tmp_path).get("etc/hosts") == b"10.1.1.1 mine\n"


def test_commit_squash(husk_rt, tmp_path):
    """--squash: the container's whole root filesystem as the image's only layer,
    deletions applied, still without the files husk binds; a running container works too."""
    husk = husk_rt
    husk("run", "-d", "--name", "sq", IMAGE, "sh", "-c", "echo kept > /kept; rm /bin/ls; touch /ready; sleep 100",
         check=True)
    husk("exec", "sq", "sh", "-c", "while [ ! -e /ready ]; do sleep 0.05; done", check=True)
    husk("commit", "-q", "--squash", "sq", "localhost/squashed:1", check=True)
    assert husk("ps", "-q", "--filter", "status=running", check=True).stdout.strip()  # unpaused again
    assert "running or paused" in husk("unmount", "sq").stderr  # no user mount left: the squash's went
    inspect = json.loads(husk("image", "inspect", "localhost/squashed:1", check=True).stdout)[0]
    assert len(inspect["RootFS"]["Layers"]) == 1
    assert [h["created_by"] for h in inspect.get("History", [])] in ([], ["husk commit --squash"])
    members = _top_layer_members(husk, "localhost/squashed:1", tmp_path)
    assert members["kept"] == b"kept\n" and "bin/sh" in members and "bin/ls" not in members
    assert not any(name.rpartition("/")[2].startswith(".wh.") for name in members)
    assert not {"etc/hostname", "run/.containerenv"} & set(members)
    ran = husk("run", "--rm", "localhost/squashed:1", "sh", "-c", "cat /kept; test -e /bin/ls || echo gone", check=True)
    assert ran.stdout == "kept\ngone\n"
