"""images --all, --filter and --sort (issue 12 item 3), by what they list."""

from __future__ import annotations

import time


def repositories(husk, *flags) -> list[str]:
    result = husk("images", "--format", "{{.Repository}}:{{.Tag}}", *flags)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_images_filter_sort_all(husk, tmp_path):
    husk("tag", "busybox", "zeta:1", check=True)
    time.sleep(1.1)
    tar = tmp_path / "root.tar"
    husk("export", "-o", str(tar), husk("create", "busybox", check=True).stdout.strip(), check=True)
    husk("import", "--change", "LABEL=tier=web", str(tar), "alpha:2", check=True)
    everything = repositories(husk)
    assert repositories(husk, "--all") == everything  # husk makes no intermediate images
    assert repositories(husk, "-f", "reference=zeta") == ["localhost/zeta:1"]
    assert repositories(husk, "--filter", "label=tier=web") == ["localhost/alpha:2"]
    assert repositories(husk, "-f", "since=busybox") == ["localhost/alpha:2"]
    assert sorted(repositories(husk, "-f", "before=alpha:2")) == ["localhost/busybox:latest", "localhost/zeta:1"]
    assert repositories(husk, "-f", "dangling=true") == []
    assert repositories(husk, "-f", "containers=true") == ["localhost/busybox:latest", "localhost/zeta:1"] or \
        repositories(husk, "-f", "containers=true") == ["localhost/zeta:1", "localhost/busybox:latest"]
    assert repositories(husk, "--sort", "repository") == ["localhost/alpha:2", "localhost/busybox:latest",
                                                         "localhost/zeta:1"]
    assert repositories(husk, "--sort", "created")[0] == "localhost/alpha:2"
    assert husk("images", "--sort", "colour").returncode == 125
    assert husk("images", "-f", "shape=round").returncode == 125


def test_import_platform(husk, tmp_path):
    tar = tmp_path / "root.tar"
    husk("export", "-o", str(tar), husk("create", "busybox", check=True).stdout.strip(), check=True)
    husk("import", "--arch", "arm", "--variant", "v7", "--os", "linux", str(tar), "armbox:1", check=True)
    assert husk("image", "inspect", "-f", "{{.Architecture}} {{.Os}} {{.Variant}}", "armbox:1").stdout == \
        "arm linux v7\n"
    assert husk("image", "inspect", "-f", "{{.Architecture}} {{.Os}}", "busybox").stdout == "amd64 linux\n"
