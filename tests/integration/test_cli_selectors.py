"""podman's selectors on the container verbs (issue 12 item 3): --all, --latest,
--cidfile and --filter, and rm --depend; each shown by what it acts on."""

from __future__ import annotations


def names(husk, *flags) -> list[str]:
    result = husk("ps", "--format", "{{.Names}}", *flags)
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())


def test_start_all_filter_latest(husk):
    for name in ("a", "b", "c"):
        group = "x" if name != "c" else "y"
        husk("create", "--network", "none", "--name", name, "-l", f"group={group}", "busybox", "sleep", "100",
             check=True)
    husk("start", "--filter", "label=group=x", check=True)
    assert names(husk) == ["a", "b"]
    husk("start", "-l", check=True)
    assert names(husk) == ["a", "b", "c"]
    husk("stop", "-t", "0", "-a", check=True)
    husk("start", "--all", check=True)
    assert names(husk) == ["a", "b", "c"]
    clash = husk("start", "--all", "-l")
    assert clash.returncode == 125 and "cannot be used together" in clash.stderr


def test_stop_kill_rm_by_cidfile_filter_latest(husk, tmp_path):
    ids = {}
    for name in ("one", "two", "three"):
        cidfile = tmp_path / name
        husk("run", "-d", "--name", name, "--cidfile", str(cidfile), "busybox", "sleep", "100", check=True)
        ids[name] = cidfile
    husk("stop", "-t", "0", "--cidfile", str(ids["one"]), check=True)
    assert names(husk) == ["three", "two"]
    husk("kill", "--latest", check=True)  # three
    husk("wait", "three", check=True)
    assert names(husk) == ["two"]
    husk("stop", "-t", "0", "--filter", "name=^two$", check=True)
    assert names(husk) == []
    husk("rm", "--cidfile", str(ids["two"]), check=True)
    husk("rm", "--filter", "name=one", check=True)
    assert names(husk, "-a") == ["three"]
    husk("rm", "-l", check=True)
    assert names(husk, "-a") == []
    missing = husk("stop", "--cidfile", str(tmp_path / "nothing"))
    assert missing.returncode == 125 and "reading CIDFile" in missing.stderr


def test_pause_unpause_restart_selectors(husk, tmp_path):
    cidfile = tmp_path / "cid"
    husk("run", "-d", "--name", "p", "--cidfile", str(cidfile), "busybox", "sleep", "100", check=True)
    husk("run", "-d", "--name", "q", "busybox", "sleep", "100", check=True)
    husk("pause", "--filter", "name=^p$", check=True)
    assert husk("inspect", "-f", "{{.State.Status}}", "p").stdout.strip() == "paused"
    assert husk("inspect", "-f", "{{.State.Status}}", "q").stdout.strip() == "running"
    husk("unpause", "--cidfile", str(cidfile), check=True)
    assert husk("inspect", "-f", "{{.State.Status}}", "p").stdout.strip() == "running"
    husk("pause", "-l", check=True)
    assert husk("inspect", "-f", "{{.State.Status}}", "q").stdout.strip() == "paused"
    husk("unpause", "-a", check=True)
    before = husk("inspect", "-f", "{{.State.Pid}}", "p").stdout
    husk("restart", "-t", "0", "--cidfile", str(cidfile), check=True)
    assert husk("inspect", "-f", "{{.State.Pid}}", "p").stdout != before


def test_latest_on_init_wait_inspect_logs(husk):
    husk("create", "--name", "old", "busybox", "true", check=True)
    husk("create", "--name", "new", "busybox", "echo", "newest", check=True)
    husk("init", "-l", check=True)
    assert husk("inspect", "-f", "{{.State.Status}}", "new").stdout.strip() == "initialized"
    assert husk("inspect", "-l", "-f", "{{.Name}}").stdout.strip() == "new"
    husk("start", "new", check=True)
    assert husk("wait", "-l").stdout.strip() == "0"
    assert husk("logs", "-l").stdout == "newest\n"


def test_rm_depend(husk):
    husk("create", "--name", "base", "busybox", "true", check=True)
    husk("create", "--name", "mid", "--requires", "base", "busybox", "true", check=True)
    husk("create", "--name", "top", "--requires", "mid", "busybox", "true", check=True)
    husk("create", "--name", "other", "busybox", "true", check=True)
    refused = husk("rm", "base")
    assert refused.returncode == 125
    husk("rm", "--depend", "base", check=True)
    assert names(husk, "-a") == ["other"]
