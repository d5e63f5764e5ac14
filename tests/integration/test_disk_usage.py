"""`system df`, `ps --size`, `inspect --size`, `system prune` and the API's
`/system/df` on real containers, with sizes checked against du(1)."""

from __future__ import annotations

import glob
import json
import os
import subprocess

import pytest

from husk.testing import needs_docker_cli


def du(*paths: str) -> int:
    """`du -sbc`: apparent bytes, each inode once across the paths."""
    if not paths:
        return 0
    out = subprocess.run(["du", "-sbc", *paths], capture_output=True, text=True, check=True).stdout
    return int(out.splitlines()[-1].split()[0])


def close(measured: int, expected: int) -> bool:
    return abs(measured - expected) <= expected / 100


def df(husk) -> dict:
    return {row["Type"]: row for row in json.loads(husk("system", "df", "--format", "json", check=True).stdout)}


def test_system_df_agrees_with_du(husk_rt):
    root = husk_rt.root
    husk_rt("volume", "create", "data", check=True)
    husk_rt("run", "--name", "writer", "-v", "data:/data", "busybox", "sh", "-c",
            "dd if=/dev/zero of=/data/v bs=1M count=3 2>/dev/null && dd if=/dev/zero of=/big bs=1M count=5 2>/dev/null",
            check=True)
    husk_rt("run", "-d", "--name", "idle", "--network", "none", "busybox", "sleep", "600", check=True)
    rows = df(husk_rt)
    images, containers, volumes = rows["Images"], rows["Containers"], rows["Local Volumes"]
    assert (images["Total"], images["Active"]) == (1, 1)
    assert close(images["RawSize"], du(os.path.join(root, "layers"))) and images["RawReclaimable"] == 0
    uppers = glob.glob(os.path.join(root, "containers", "*", "upper"))
    assert (containers["Total"], containers["Active"]) == (2, 1) and len(uppers) == 2
    assert close(containers["RawSize"], du(*uppers)) and containers["RawSize"] > 5 * 2**20
    writer = husk_rt("inspect", "--format", "{{.Id}}", "writer", check=True).stdout.strip()
    assert close(containers["RawReclaimable"], du(os.path.join(root, "containers", writer, "upper")))
    mountpoint = husk_rt("volume", "inspect", "--format", "{{.Mountpoint}}", "data", check=True).stdout.strip()
    assert (volumes["Total"], volumes["Active"]) == (1, 1)
    assert close(volumes["RawSize"], du(mountpoint)) and volumes["RawSize"] > 3 * 2**20
    table = husk_rt("system", "df", check=True).stdout.splitlines()
    assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split()[0] for line in table[1:]] == ["Images", "Containers", "Local", "Build"]
    assert table[2].split()[4].endswith("MB") and table[2].split()[5] == "(" + str(
        int(containers["RawReclaimable"] * 100 / containers["RawSize"])) + "%)"
    out = husk_rt("system", "df", "--format", "{{.Type}}:{{.Total}}", check=True).stdout
    assert out == "Images:1\nContainers:2\nLocal Volumes:1\nBuild Cache:0\n"
    verbose = husk_rt("system", "df", "-v", check=True).stdout
    assert verbose.startswith("Images space usage:\n\nREPOSITORY ")
    assert "\nContainers space usage:\n\nCONTAINER ID " in verbose and "\nLocal Volumes space usage:\n\n" in verbose
    assert [line.split()[:3] for line in verbose.splitlines() if line.startswith("data ")] == [["data", "1", "3.15MB"]]
    result = husk_rt("system", "df", "-v", "--format", "json")
    assert (result.returncode, result.stderr) == (125, "Error: cannot combine --format and --verbose flags\n")



def test_build_cache_row_prune_and_du(husk, tmp_path):
    """A two-stage build leaves the first stage's RUN layer held by no image: the Build Cache
    row counts it (with the entries and a RUN cache mount) as du does; prune frees it."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Containerfile").write_text(
        "FROM busybox AS one\n"
        "RUN --mount=type=cache,target=/cache dd if=/dev/zero of=/cache/c bs=1k count=200 2>/dev/null "
        "&& dd if=/dev/zero of=/a bs=1k count=600 2>/dev/null\n"
        "FROM busybox\nCOPY --from=one /a /b\nRUN echo hi > /c\n")
    husk("build", "-t", "localhost/cached:1", str(context), check=True, timeout=300)
    root = husk.root
    image_layers = set(json.loads(husk("image", "inspect", "--format", "{{json .RootFS.Layers}}",
                                       "localhost/cached:1", check=True).stdout))
    held = {layer.removeprefix("sha256:") for layer in image_layers}
    orphans = [os.path.join(root, "layers", name) for name in os.listdir(os.path.join(root, "layers"))
               if name not in held and len(name) == 64]
    assert len(orphans) == 1 and du(*orphans) > 600 * 1024  # stage one's RUN layer
    cache_dirs = [os.path.join(root, "build-cache"), os.path.join(root, "build-cache-mounts")]
    row = df(husk)["Build Cache"]
    assert close(row["RawSize"], du(*cache_dirs, *orphans)) and row["RawSize"] > 800 * 1024
    assert row["Active"] == 0 and row["RawReclaimable"] == row["RawSize"]
    entries = len(os.listdir(cache_dirs[0])) + len(os.listdir(cache_dirs[1]))
    assert row["Total"] == entries
    verbose = husk("system", "df", "-v", check=True).stdout
    section = verbose.split("\nBuild Cache space usage:\n\n")[1].splitlines()
    assert section[0].split()[:4] == ["CACHE", "ID", "CACHE", "TYPE"] and len(section) == 1 + entries
    assert any(" exec.cachemount " in line for line in section)
    # the default prune takes only the dangling entries (those naming stage one's layer) and the layer
    result = husk("builder", "prune", "-f", "--external", check=True)  # nothing of other tools: the same
    assert result.stdout.startswith("Deleted build cache objects:\n")
    assert not any(os.path.exists(path) for path in orphans)
    after = df(husk)["Build Cache"]
    assert 0 < after["Total"] < entries and after["RawSize"] < 300 * 1024  # the cache mount stays
    assert close(after["RawSize"], du(*cache_dirs))
    # system prune -a takes the rest, the cache mount included
    result = husk("system", "prune", "-f", "-a", check=True)
    assert "Deleted Build Cache" in result.stdout.splitlines()
    assert df(husk)["Build Cache"]["Total"] == 0 and os.listdir(cache_dirs[1]) == []
    result = husk("builder", "prune", "--filter", "nope=1", "-f")
    assert result.returncode == 125 and result.stderr.startswith("Error: invalid filter 'nope'")

def test_shared_layers_count_once(husk):
    husk("run", "--name", "base", "busybox", "sh", "-c", "dd if=/dev/zero of=/extra bs=1M count=2 2>/dev/null",
         check=True)
    husk("commit", "base", "localhost/derived:1", check=True)
    rows = df(husk)
    assert rows["Images"]["Total"] == 2
    assert close(rows["Images"]["RawSize"], du(os.path.join(husk.root, "layers")))
    images = {line.split()[0]: line.split() for line in husk("system", "df", "-v", check=True).stdout.splitlines()
              if line.startswith("localhost/")}
    # REPOSITORY TAG ID CREATED(2 words) SIZE SHARED UNIQUE CONTAINERS: the busybox layer is shared by both
    base, derived = images["localhost/busybox"], images["localhost/derived"]
    assert base[-3] == derived[-3] != "0B" and base[-2] == "0B" and derived[-2] != "0B"
    assert base[-1] == "1" and derived[-1] == "0"


def test_ps_and_inspect_size(husk_rt):
    husk_rt("run", "--name", "w", "busybox", "sh", "-c", "dd if=/dev/zero of=/f bs=1M count=2 2>/dev/null",
            check=True)
    upper = os.path.join(husk_rt.root, "containers",
                         husk_rt("inspect", "--format", "{{.Id}}", "w", check=True).stdout.strip(), "upper")
    rw, rootfs = map(int, husk_rt("inspect", "--size", "--format", "{{.SizeRw}} {{.SizeRootFs}}", "w",
                                  check=True).stdout.split())
    assert close(rw, du(upper)) and rootfs > rw + 2**20  # plus the image's busybox
    assert husk_rt("inspect", "--format", "{{.SizeRw}} {{.SizeRootFs}}", "w", check=True).stdout == "<nil> 0\n"
    assert "SizeRw" not in json.loads(husk_rt("inspect", "w", check=True).stdout)[0]
    lines = husk_rt("ps", "-a", "--size", check=True).stdout.splitlines()
    assert lines[0].split()[-1] == "SIZE" and lines[1].endswith(")") and "(virtual " in lines[1]
    assert husk_rt("ps", "-as", "--format", "{{.Size}}", check=True).stdout.startswith("2.1")
    [document] = json.loads(husk_rt("ps", "-a", "--size", "--format", "json", check=True).stdout)
    assert document["Size"] == {"rwSize": rw, "rootFsSize": rootfs}


def test_system_prune(husk):
    husk("volume", "create", "unused", check=True)
    husk("volume", "create", "kept", "--label", "keep=1", check=True)
    husk("create", "--name", "made", "busybox", "true", check=True)
    husk("run", "-d", "--name", "alive", "--network", "none", "busybox", "sleep", "600", check=True)
    husk("network", "create", husk.net_name("spare"), "--subnet", husk.subnet(1), check=True)
    made = husk("inspect", "--format", "{{.Id}}", "made", check=True).stdout.strip()
    # declined: nothing removed
    result = husk("system", "prune", input="n\n")
    assert result.returncode == 0
    assert result.stdout.startswith("WARNING! This command removes:\n\t- all stopped containers\n"
                                    "\t- all networks not used by at least one container\n\t- all dangling images\n"
                                    "\t- all dangling build cache\n\nAre you sure you want to continue? [y/N] ")
    assert husk("container", "exists", "made").returncode == 0
    result = husk("system", "prune", "--volumes", "-a", input="n\n")
    assert "\t- all volumes not used by at least one container\n" in result.stdout
    assert "\t- all images without at least one container associated with them\n\t- all build cache\n" in result.stdout
    # a filter narrows every kind
    result = husk("system", "prune", "-f", "--volumes", "--filter", "label=nothing-has-it", check=True)
    assert result.stdout == "Total reclaimed space: 0B\n"
    result = husk("system", "prune", "-f", "--volumes", "--filter", "label!=keep=1", check=True)
    lines = result.stdout.splitlines()
    assert lines[:2] == ["Deleted Containers", made]
    assert "Deleted Networks" in lines and husk.net_name("spare") in lines
    assert lines[lines.index("Deleted Volumes") + 1:][:1] == ["unused"] and "kept" not in lines
    assert "Deleted Images" not in lines  # busybox is used by the running container, and named
    assert lines[-1].startswith("Total reclaimed space: ")
    assert husk("container", "exists", "alive").returncode == 0
    assert husk("volume", "exists", "kept").returncode == 0
    # -a: images no container uses; the running container keeps busybox
    husk("rm", "-f", "alive", check=True)
    result = husk("system", "prune", "-f", "-a", check=True)
    assert "Deleted Images" in result.stdout.splitlines()
    assert husk("images", "-q", check=True).stdout == ""
    result = husk("system", "prune", "-f", "--filter", "nope=1")
    assert result.returncode == 125 and result.stderr.startswith("Error: invalid filter 'nope'")


def test_api_system_df(api):
    assert api.request("POST", "/v1.41/containers/create?name=c", {"Image": "busybox", "Cmd": ["true"]})[0] == 201
    status, _, body = api.request("GET", "/v1.41/system/df")
    assert status == 200 and body["BuildCache"] == [] and body["BuilderSize"] == 0
    assert close(body["LayersSize"], du(os.path.join(api.env.root, "layers")))
    [image] = body["Images"]
    assert image["Containers"] == 1 and image["Size"] == body["LayersSize"] and image["SharedSize"] == 0
    [container] = body["Containers"]
    assert container["Names"] == ["/c"] and container["SizeRootFs"] > container["SizeRw"] >= 0
    status, _, body = api.request("GET", "/v4.0.0/libpod/system/df")
    assert status == 200 and body["Images"][0]["Repository"] == "localhost/busybox"
    assert body["Containers"][0]["Names"] == "c"


@needs_docker_cli
def test_docker_system_df(api):
    assert api.docker("volume", "create", "v").returncode == 0
    result = api.docker("system", "df")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0].split()[:2] == ["TYPE", "TOTAL"]
    assert [line.split()[0] for line in lines[1:]] == ["Images", "Containers", "Local", "Build"]
    assert lines[3].split()[2:4] == ["1", "0"]  # Local Volumes: one, none active
    assert api.docker("system", "df", "-v").returncode == 0


def test_docker_sdk_df(api):
    docker = pytest.importorskip("docker", reason="the docker SDK is in the test extra")
    client = docker.DockerClient(base_url=f"unix://{api.socket_path}", timeout=120)
    usage = client.df()
    assert usage["LayersSize"] > 0 and len(usage["Images"]) == 1


@needs_docker_cli
def test_docker_ps_and_inspect_size(api):
    assert api.docker("run", "--name", "w", "busybox", "sh", "-c",
                      "dd if=/dev/zero of=/f bs=1M count=2 2>/dev/null").returncode == 0
    result = api.docker("ps", "-a", "-s", "--format", "{{.Size}}")
    assert result.returncode == 0 and result.stdout.decode().startswith("2.1"), result
    assert "(virtual " in result.stdout.decode()
    status, _, body = api.request("GET", "/v1.41/containers/w/json?size=1")
    assert status == 200 and body["SizeRootFs"] > body["SizeRw"] > 2 * 2**20
    assert "SizeRw" not in api.request("GET", "/v1.41/containers/w/json")[2]


@needs_docker_cli
def test_docker_build_cache_df_and_prune(api, tmp_path):
    """docker's Build Cache row comes from /system/df's BuildCache; `docker builder prune`
    (POST /build/prune) removes it."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox AS one\nRUN dd if=/dev/zero of=/a bs=1k count=300 2>/dev/null\n"
                                        "FROM busybox\nCOPY --from=one /a /b\n")
    assert api.docker("build", "-t", "dcached", str(context), timeout=300).returncode == 0
    status, _, body = api.request("GET", "/v1.41/system/df")
    assert status == 200 and len(body["BuildCache"]) >= 2
    assert {entry["Type"] for entry in body["BuildCache"]} == {"regular"}
    assert body["BuilderSize"] > 300 * 1024 and not any(entry["InUse"] for entry in body["BuildCache"])
    rows = {line.split()[0]: line.split() for line in api.docker("system", "df").stdout.decode().splitlines()[1:]}
    assert rows["Build"][2] == str(len(body["BuildCache"]))  # Build Cache TOTAL
    result = api.docker("builder", "prune", "-f")
    assert result.returncode == 0 and "Total reclaimed space:" in result.stdout.decode(), result
    status, _, after = api.request("GET", "/v1.41/system/df")
    assert 0 < len(after["BuildCache"]) < len(body["BuildCache"]) and after["BuilderSize"] < 300 * 1024
    assert api.docker("builder", "prune", "-f", "-a").returncode == 0
    assert api.request("GET", "/v1.41/system/df")[2]["BuildCache"] == []
