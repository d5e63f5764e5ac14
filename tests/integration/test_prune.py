"""`husk container prune`: every container that is not running goes, the
running and paused ones stay; podman's prompt, filters and output."""

from __future__ import annotations


def _names(env) -> list[str]:
    return sorted(env("ps", "-a", "--format", "{{.Names}}", check=True).stdout.split())


def test_prune_removes_what_is_not_running(husk):
    husk("create", "--name", "configured", "busybox", "true", check=True)
    husk("create", "--name", "initialised", "busybox", "true", check=True)
    husk("init", "initialised", check=True)
    husk("run", "--name", "exited", "busybox", "true", check=True)
    husk("run", "-d", "--name", "running", "busybox", "sleep", "300", check=True)
    husk("run", "-d", "--name", "paused", "busybox", "sleep", "300", check=True)
    husk("pause", "paused", check=True)
    ids = {name: husk("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
           for name in ("configured", "initialised", "exited")}
    result = husk("container", "prune", "-f", check=True)
    assert sorted(result.stdout.split()) == sorted(ids.values())
    assert _names(husk) == ["paused", "running"]
    assert husk("container", "prune", "--force", check=True).stdout == ""


def test_prune_asks_first_and_filters(husk):
    husk("create", "--name", "a", "--label", "keep=yes", "busybox", "true", check=True)
    husk("create", "--name", "b", "--label", "keep=no", "busybox", "true", check=True)
    result = husk("container", "prune", input="n\n")
    assert result.returncode == 0
    assert result.stdout == ("WARNING! This will remove all non running containers.\n"
                             "Are you sure you want to continue? [y/N] ")
    assert _names(husk) == ["a", "b"]
    husk("container", "prune", "-f", "--filter", "label!=keep=yes", check=True)
    assert _names(husk) == ["a"]
    husk("container", "prune", "-f", "--filter", "until=1h", check=True)  # created less than an hour ago
    assert _names(husk) == ["a"]
    result = husk("container", "prune", "--filter", "name=a", "-f")
    assert result.returncode == 125 and result.stderr.startswith("Error: invalid filter")
    a_id = husk("inspect", "--format", "{{.Id}}", "a", check=True).stdout.strip()
    assert husk("container", "prune", input="y\n", check=True).stdout.split()[-1] == a_id
    assert _names(husk) == []
