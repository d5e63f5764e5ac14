"""Issue 14's image verbs, flag by flag where no other test covers them:
commit's --author, --message, --format and --pause as podman 4.3 treats them,
and save/load of an OCI layout directory and of a multi-image archive, also
on a storage root that `load` is the first command of."""

import dataclasses
import json
import os
import shutil

from husk.testing import IMAGE


def test_commit_author_message_format_and_pause(husk):
    husk("run", "-d", "--name", "c", "--network", "none", IMAGE, "sh", "-c", "echo x > /made; sleep 100", check=True)
    husk("exec", "c", "sh", "-c", "while [ ! -e /made ]; do sleep 0.05; done", check=True)
    message = husk("commit", "-m", "msg", "c", "localhost/refused")
    assert (message.returncode, message.stderr.splitlines()[-1]) == (
        125, "Error: messages are only compatible with the docker image format (-f docker)")
    bogus = husk("commit", "-f", "bogus", "c", "localhost/refused")
    assert (bogus.returncode, bogus.stderr) == (125, 'Error: unrecognized image format "bogus"\n')
    assert husk("image", "exists", "localhost/refused").returncode == 1
    husk("commit", "-q", "-f", "docker", "-m", "the message", "-a", "Ann <ann@example.org>", "c", "localhost/dk",
         check=True)
    document = json.loads(husk("image", "inspect", "localhost/dk", check=True).stdout)[0]
    assert (document["Author"], document["Comment"], document["ManifestType"]) == (
        "Ann <ann@example.org>", "the message", "application/vnd.docker.distribution.manifest.v2+json")
    oci = json.loads(husk("image", "inspect", husk("commit", "-q", "c", check=True).stdout.strip(),
                          check=True).stdout)[0]
    assert (oci["Author"], oci["ManifestType"]) == ("", "application/vnd.oci.image.manifest.v1+json")
    # --pause (the default) pauses a running container while its changes are read; --pause=false does not
    def pauses() -> list[str]:
        return husk("events", "--stream=false", "--filter", "event=pause", "--filter", "event=unpause",
                    "--format", "{{.Status}}", check=True).stdout.split()

    assert pauses() == ["pause", "unpause"] * 2  # the docker-format commit's and the plain one's
    husk("commit", "-q", "--pause=false", "c", check=True)
    assert pauses() == ["pause", "unpause"] * 2
    assert husk("inspect", "--format", "{{.State.Status}}", "c", check=True).stdout == "running\n"
    husk("rm", "-f", "-t", "0", "c", check=True)


def test_save_and_load_an_oci_dir_and_a_multi_image_archive(husk, tmp_path):
    husk("run", "--name", "m", "--network", "none", IMAGE, "sh", "-c", "echo two > /two", check=True)
    husk("commit", "-q", "m", "localhost/two:1", check=True)
    husk("rm", "m", check=True)
    layout = tmp_path / "layout"
    husk("save", "--format", "oci-dir", "-o", str(layout), "localhost/two:1", check=True)
    assert (layout / "oci-layout").is_file() and (layout / "index.json").is_file()
    multi = tmp_path / "multi.tar"
    husk("save", "-m", "-o", str(multi), IMAGE, "localhost/two:1", check=True)
    husk("rmi", "localhost/two:1", check=True)
    loaded = husk("load", "-i", str(layout))
    assert (loaded.returncode, loaded.stdout) == (0, "Loaded image: localhost/two:1\n"), loaded.stderr
    assert husk("run", "--rm", "--network", "none", "localhost/two:1", "cat", "/two", check=True).stdout == "two\n"
    # the archive on a fresh storage root: `load` is the first command it sees
    fresh = dataclasses.replace(husk, root=os.path.join(str(tmp_path), "fresh-root"),
                                runroot=os.path.join(str(tmp_path), "fresh-run"), mounts=[])
    try:
        loaded = fresh("load", "-i", str(multi))
        assert loaded.returncode == 0, loaded.stderr
        assert loaded.stdout == f"Loaded image: {IMAGE}\nLoaded image: localhost/two:1\n"
        assert sorted(fresh("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split()) == \
            sorted([IMAGE, "localhost/two:1"])
        assert oct(os.stat(fresh.root).st_mode & 0o777) == "0o700"
    finally:
        shutil.rmtree(fresh.root, ignore_errors=True)
        shutil.rmtree(fresh.runroot, ignore_errors=True)
