"""The remote verbs beyond the basics (husk.cli.remote_containers, husk.cli.remote_objects):
create, attach, cp, port, top, stats, events, build, push and the pod, network, volume and
secret groups, each as a client of husk's own service over its unix socket."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from husk.testing import HUSK, IMAGE, ApiService, needs_registry, runs, wait_until


def client(service, *args: str, input=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([HUSK, "--url", f"unix://{service.socket_path}", *args], input=input,
                          capture_output=True, text=True, timeout=timeout, env=service.env.env())


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, (done.args, done.stdout, done.stderr)
    return done.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_remote_create_attach_top_and_port(api_crun):
    ident = ok(client(api_crun, "create", "-i", "--name", "ra", IMAGE, "sh", "-c", "read x; echo got $x; exit 5"))
    assert len(ident.strip()) == 64
    assert api_crun.env("inspect", "--format", "{{.State.Status}}", "ra").stdout == "created\n"
    ok(client(api_crun, "start", "ra"))
    attached = client(api_crun, "attach", "ra", input="hello\n")
    assert (attached.returncode, attached.stdout) == (5, "got hello\n"), attached.stderr
    port = _free_port()
    ok(client(api_crun, "run", "-d", "--name", "rp", "-p", f"{port}:80", IMAGE, "sleep", "600"))
    assert client(api_crun, "port", "rp").stdout == f"80/tcp -> 0.0.0.0:{port}\n"
    assert client(api_crun, "port", "rp", "80").stdout == f"0.0.0.0:{port}\n"
    for args in (("port", "-a"), ("port", "rp", "80/tcp"), ("port", "rp", "80/udp")):  # one printer for both
        assert ok(client(api_crun, *args)) == api_crun.env(*args, check=True).stdout, args
    pid = int(api_crun.env("inspect", "-f", "{{.State.Pid}}", "rp", check=True).stdout)
    assert wait_until(lambda: runs(pid, "sleep"), timeout=120)  # start returns before init execs sleep
    top = ok(client(api_crun, "top", "rp", "pid", "args")).splitlines()
    assert top[0].split() == ["PID", "COMMAND"] and top[1].split() == ["1", "sleep", "600"]
    ok(client(api_crun, "rm", "-f", "ra", "rp"))


def test_remote_cp_both_ways(api_crun, tmp_path):
    ok(client(api_crun, "run", "-d", "--name", "rc", IMAGE, "sleep", "600"))
    (tmp_path / "f.txt").write_text("data\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "g").write_text("inner\n")
    ok(client(api_crun, "cp", str(tmp_path / "f.txt"), "rc:/tmp/"))
    ok(client(api_crun, "cp", str(tmp_path / "d"), "rc:/tmp/dd"))
    assert api_crun.env("exec", "rc", "cat", "/tmp/f.txt", "/tmp/dd/g").stdout == "data\ninner\n"
    out = tmp_path / "out"
    out.mkdir()
    ok(client(api_crun, "cp", "rc:/tmp/dd", str(out)))
    ok(client(api_crun, "cp", "rc:/tmp/dd", str(out / "new")))
    ok(client(api_crun, "cp", "rc:/tmp/f.txt", str(out / "renamed")))
    ok(client(api_crun, "cp", "rc:/tmp/dd/.", str(out)))
    found = sorted(os.path.relpath(os.path.join(top, name), out) for top, dirs, files in os.walk(out)
                   for name in dirs + files)
    assert found == ["dd", "dd/g", "g", "new", "new/g", "renamed"]
    assert (out / "new" / "g").read_text() == "inner\n"
    missing = client(api_crun, "cp", "rc:/nope", str(out))
    assert missing.returncode == 125 and len(missing.stderr.splitlines()) == 1, missing.stderr
    both = client(api_crun, "cp", str(out), str(out))
    assert both.returncode == 125 and "CONTAINER:PATH" in both.stderr
    ok(client(api_crun, "rm", "-f", "rc"))


def test_remote_stats_and_events(api_crun):
    ok(client(api_crun, "run", "-d", "--name", "rs", IMAGE, "sleep", "600"))
    stats = ok(client(api_crun, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "rs"))
    assert stats == "rs 1\n"
    streamed = subprocess.Popen([HUSK, "--url", f"unix://{api_crun.socket_path}", "stats", "-i", "1", "--format",
                                 "{{.Name}}", "rs"], stdout=subprocess.PIPE, text=True, env=api_crun.env.env())
    watchdog = threading.Timer(120, streamed.kill)  # a stuck stream ends the read below
    watchdog.start()
    try:
        rounds = [streamed.stdout.readline() for _ in range(2)]
    finally:
        watchdog.cancel()
        streamed.kill()
        streamed.communicate(timeout=60)
    assert rounds == ["rs\n", "rs\n"]  # a report a round; a pipe's screen is not cleared, as locally
    events = ok(client(api_crun, "events", "--stream=false", "--filter", "container=rs",
                       "--format", "{{.Status}} {{.Name}}"))
    assert events.splitlines()[:3] == ["create rs", "init rs", "start rs"]
    ok(client(api_crun, "rm", "-f", "rs"))
    line = ok(client(api_crun, "events", "--stream=false", "--filter", "event=remove"))
    assert line.strip().endswith("(image=localhost/busybox:latest, name=rs)") and " container remove " in line


def test_remote_pod_network_volume_and_secret_groups(api_crun):
    pod = ok(client(api_crun, "pod", "create", "--name", "rpod")).strip()
    ok(client(api_crun, "run", "-d", "--pod", "rpod", "--name", "inpod", IMAGE, "sleep", "600"))
    assert ok(client(api_crun, "pod", "ps", "--format", "{{.Name}} {{.Status}} {{.NumberOfContainers}}")) \
        == "rpod Running 2\n"
    assert ok(client(api_crun, "pod", "inspect", "--format", "{{.Name}} {{.NumContainers}}", "rpod")) == "rpod 2\n"
    pid = int(api_crun.env("inspect", "-f", "{{.State.Pid}}", "inpod", check=True).stdout)
    assert wait_until(lambda: runs(pid, "sleep"), timeout=120)  # start returns before init execs sleep
    assert "sleep 600" in ok(client(api_crun, "pod", "top", "rpod"))
    assert ok(client(api_crun, "pod", "stop", "-t", "0", "rpod")) == pod + "\n"
    assert api_crun.env("inspect", "--format", "{{.State.Status}}", "inpod").stdout.strip() in ("exited", "stopped")
    assert client(api_crun, "pod", "exists", "rpod").returncode == 0
    assert client(api_crun, "pod", "exists", "nope").returncode == 1
    assert ok(client(api_crun, "pod", "rm", "-f", "rpod")) == pod + "\n"
    assert client(api_crun, "ps", "-aq").stdout == ""

    assert ok(client(api_crun, "network", "create", "rnet")) == "rnet\n"
    assert "rnet" in ok(client(api_crun, "network", "ls", "--format", "{{.Name}}")).split()
    ok(client(api_crun, "run", "-d", "--name", "nc", IMAGE, "sleep", "600"))
    ok(client(api_crun, "network", "connect", "rnet", "nc"))
    assert "rnet" in api_crun.env("inspect", "--format", "{{.NetworkSettings.Networks}}", "nc").stdout
    ok(client(api_crun, "network", "disconnect", "rnet", "nc"))
    ok(client(api_crun, "rm", "-f", "nc"))
    assert ok(client(api_crun, "network", "rm", "rnet")) == "rnet\n"

    assert ok(client(api_crun, "volume", "create", "rvol")) == "rvol\n"
    assert ok(client(api_crun, "volume", "ls")).splitlines() == ["DRIVER      VOLUME NAME", "local       rvol"]
    assert ok(client(api_crun, "volume", "inspect", "--format", "{{.Name}} {{.Driver}}", "rvol")) == "rvol local\n"
    assert ok(client(api_crun, "volume", "rm", "rvol")) == "rvol\n"

    secret = ok(client(api_crun, "secret", "create", "rsec", "-", input="s3cret")).strip()
    assert ok(client(api_crun, "secret", "ls", "--format", "{{.ID}} {{.Name}}")) == f"{secret} rsec\n"
    assert ok(client(api_crun, "secret", "inspect", "--format", "{{.Spec.Name}}", "rsec")) == "rsec\n"
    assert ok(client(api_crun, "secret", "rm", "rsec")) == secret + "\n"
    missing = client(api_crun, "secret", "inspect", "rsec")
    assert missing.returncode == 125 and missing.stderr.startswith("Error: inspecting secret: ")


def test_remote_lists_are_the_local_ones(api_crun):
    """pod ps, network, volume and secret ls and images print the service's documents as the
    local verbs print their own (one printer each): tables, templates, JSON and -q."""
    env = api_crun.env
    env("pod", "create", "--name", "rlpod", "--label", "k=v", check=True)
    env("create", "--pod", "rlpod", "--name", "rlpc", IMAGE, "true", check=True)
    env("network", "create", "--label", "k=v", "rlnet", check=True)
    env("volume", "create", "--label", "k=v", "rlvol", check=True)
    subprocess.run([HUSK, *env.global_args, "secret", "create", "rlsec", "-"], input="s3cret", text=True,
                   env=env.env(), check=True, capture_output=True)
    try:
        differ = []
        for group, verb, extra in (("pod", "ps", ("--ctr-names",)), ("network", "ls", ("--no-trunc",)),
                                   ("volume", "ls", ()), ("secret", "ls", ())):
            for options in ((), ("--format", "json"), ("-q",), ("--noheading",), extra,
                            ("--format", "{{.Name}} {{.Labels}}" if group != "secret" else "{{.Name}} {{.Driver}}")):
                local = env(group, verb, *options, check=True).stdout
                remote = ok(client(api_crun, group, verb, *options))
                if _ages_out(remote) != _ages_out(local):
                    differ.append((group, options, remote, local))
        env("tag", IMAGE, "localhost/rl-other:1", check=True)
        for options in ((), ("-q",), ("--noheading",), ("--no-trunc",), ("--format", "{{.Repository}}:{{.Tag}} "
                                                                        "{{.Size}} {{.Digest}} {{.Labels}}")):
            local = env("images", *options, check=True).stdout
            remote = ok(client(api_crun, "images", *options))
            if _ages_out(remote) != _ages_out(local):
                differ.append(("images", options, remote, local))
        assert differ == []
    finally:
        env("pod", "rm", "-f", "rlpod")
        env("network", "rm", "rlnet")
        env("volume", "rm", "rlvol")
        env("secret", "rm", "rlsec")


def test_remote_build_sends_the_context(api_crun, tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Containerfile").write_text(f"FROM {IMAGE}\nCOPY f.txt /f.txt\nRUN cat /f.txt\n")
    (context / "f.txt").write_text("built remotely\n")
    built = ok(client(api_crun, "build", "-t", "localhost/rbuilt:1", str(context), timeout=300))
    assert "built remotely\n" in built and "STEP 3/3" in built
    quiet = ok(client(api_crun, "build", "-q", "-t", "localhost/rbuilt:2", str(context), timeout=300)).strip()
    assert quiet == api_crun.env("inspect", "--format", "{{.Id}}", "localhost/rbuilt:2").stdout.strip()
    ran = client(api_crun, "run", "--rm", "localhost/rbuilt:1", "cat", "/f.txt")
    assert (ran.returncode, ran.stdout) == (0, "built remotely\n"), ran.stderr


@needs_registry
def test_remote_push_to_a_registry(husk_envs, registry):
    env = registry.trust(husk_envs("crun"))
    base = tempfile.mkdtemp(prefix="hapi-")
    service = ApiService(env, os.path.join(base, "s.sock"))
    try:
        target = f"{registry.host}/remote/bb:1"
        pushed = client(service, "push", IMAGE, f"docker://{target}", timeout=300)
        assert pushed.returncode == 0, pushed.stderr
        env("rmi", IMAGE, check=True)
        pulled = client(service, "pull", "-q", target, timeout=300)
        assert pulled.returncode == 0, pulled.stderr
    finally:
        err = service.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert "Traceback" not in err, err



def test_remote_commit_tag_save_load_export_rename_and_init(api_crun, tmp_path):
    ok(client(api_crun, "run", "--name", "rcm", IMAGE, "sh", "-c", "echo changed > /changed"))
    ident = ok(client(api_crun, "commit", "rcm", "localhost/committed:2")).strip()
    assert ident == api_crun.env("inspect", "--format", "{{.Id}}", "localhost/committed:2").stdout.strip()
    ok(client(api_crun, "tag", "localhost/committed:2", "localhost/other:3", "localhost/third"))
    names = ok(client(api_crun, "images", "--format", "{{.Repository}}:{{.Tag}}")).split()
    assert {"localhost/other:3", "localhost/third:latest"} <= set(names)
    ok(client(api_crun, "untag", "localhost/committed:2", "localhost/other:3", "localhost/third"))
    assert "localhost/other:3" not in ok(client(api_crun, "images", "--format", "{{.Repository}}:{{.Tag}}"))
    archive = tmp_path / "saved.tar"
    ok(client(api_crun, "save", "-o", str(archive), "localhost/committed:2"))
    ok(client(api_crun, "rmi", "localhost/committed:2"))
    assert ok(client(api_crun, "load", "-i", str(archive))) == "Loaded image: localhost/committed:2\n"
    assert ok(client(api_crun, "run", "--rm", "localhost/committed:2", "cat", "/changed")) == "changed\n"
    exported = tmp_path / "fs.tar"
    ok(client(api_crun, "export", "-o", str(exported), "rcm"))
    import tarfile

    with tarfile.open(exported) as tar:
        assert "changed" in [member.name.lstrip("./") for member in tar.getmembers()]
    ok(client(api_crun, "rename", "rcm", "rcm2"))
    assert ok(client(api_crun, "ps", "-a", "--format", "{{.Names}}")) == "rcm2\n"
    ok(client(api_crun, "create", "--name", "rin", IMAGE, "true"))
    assert ok(client(api_crun, "init", "rin")) == "rin\n"
    assert api_crun.env("inspect", "--format", "{{.State.Status}}", "rin").stdout == "initialized\n"
    ok(client(api_crun, "rm", "-f", "rcm2", "rin"))


def test_remote_kube_play_and_down(api, tmp_path):
    """The YAML goes to the service (POST /libpod/play/kube), which runs it as `kube play` does;
    podman 4.3's client plays it through the same route."""
    import yaml

    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "rksec"}, "data": {"pw": "czNjcjN0"}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "rkp"}, "spec": {"containers": [
        {"name": "c", "image": IMAGE, "command": ["sleep", "600"],
         "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "rksec", "key": "pw"}}}]}]}}
    path = tmp_path / "rk.yaml"
    path.write_text(yaml.safe_dump_all([secret, pod]))
    played = ok(client(api, "kube", "play", str(path))).splitlines()
    assert played[0] == "Pod:" and played[2] == "Container:" and played[4] == ""
    assert api.env("exec", "rkp-c", "sh", "-c", "echo $PW").stdout == "s3cr3t\n"
    down = ok(client(api, "kube", "down", str(path))).splitlines()
    assert down == ["Pods stopped:", played[1], "Pods removed:", played[1]]
    assert api.env("pod", "exists", "rkp").returncode == 1
    bad = client(api, "kube", "play", str(tmp_path / "nope.yaml"))
    assert bad.returncode == 125 and len(bad.stderr.splitlines()) == 1
    podman = shutil.which("podman")
    if podman is None or api.env.runtime_name != "crun":  # the client's side: once is enough
        return
    remote = [podman, "--remote", "--url", f"unix://{api.socket_path}", "kube"]
    done = subprocess.run([*remote, "play", str(path)], capture_output=True, text=True, timeout=120,
                          env=api.env.env())
    assert done.returncode == 0 and done.stdout.startswith("Pod:\n"), done.stderr
    done = subprocess.run([*remote, "down", str(path)], capture_output=True, text=True, timeout=120,
                          env=api.env.env())
    assert done.returncode == 0 and done.stdout.startswith("Pods stopped:\n"), done.stderr


def test_remote_generate_kube(api_crun):
    import yaml

    ok(client(api_crun, "pod", "create", "--name", "rgk"))
    ok(client(api_crun, "create", "--pod", "rgk", "--name", "rgkc", "-e", "MODE=x", IMAGE, "sleep", "600"))
    text = ok(client(api_crun, "generate", "kube", "rgk"))
    assert text == ok(client(api_crun, "kube", "generate", "rgk"))
    document = yaml.safe_load(text)
    assert (document["kind"], document["metadata"]["name"]) == ("Pod", "rgk")
    assert document["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "x"}]
    missing = client(api_crun, "generate", "kube", "nope")
    assert missing.returncode == 125 and len(missing.stderr.splitlines()) == 1, missing.stderr
    ok(client(api_crun, "pod", "rm", "-f", "rgk"))


def test_remote_logs_options_and_ps_filters(api_crun):
    ok(client(api_crun, "run", "--name", "rl1", IMAGE, "sh", "-c", "echo a; echo b; echo c"))
    ok(client(api_crun, "run", "-d", "--name", "rl2", IMAGE, "sleep", "600"))
    assert ok(client(api_crun, "logs", "--tail", "1", "rl1")) == "c\n"
    stamped = ok(client(api_crun, "logs", "-t", "rl1")).splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["a", "b", "c"] and stamped[0].startswith("20")
    assert ok(client(api_crun, "logs", "--since", "1h", "rl1")) == "a\nb\nc\n"
    ok(client(api_crun, "run", "--name", "rl3", IMAGE, "echo", "d"))
    followed = ok(client(api_crun, "logs", "-f", "-n", "rl1", "rl3")).splitlines()  # together, as they come
    assert [line for line in followed if line.startswith("rl1 ")] == ["rl1 a", "rl1 b", "rl1 c"]
    assert sorted(followed) == ["rl1 a", "rl1 b", "rl1 c", "rl3 d"]
    assert ok(client(api_crun, "ps", "-a", "--filter", "name=rl1", "--format", "{{.Names}}")) == "rl1\n"
    assert ok(client(api_crun, "ps", "--filter", "status=running", "--format", "{{.Names}}")) == "rl2\n"
    bad = client(api_crun, "ps", "--filter", "bogus=1")
    assert bad.returncode == 125 and bad.stderr.startswith("Error: invalid filter 'bogus'")
    ok(client(api_crun, "rm", "-f", "rl1", "rl2", "rl3"))


def test_remote_container_and_image_groups(api_crun):
    ok(client(api_crun, "container", "run", "-d", "--name", "rg", IMAGE, "sleep", "600"))
    assert ok(client(api_crun, "container", "ls", "--format", "{{.Names}}")) == "rg\n"
    assert ok(client(api_crun, "container", "list", "-q")).strip() == ok(client(api_crun, "ps", "-q")).strip()
    ident = api_crun.env("inspect", "--format", "{{.Id}}", IMAGE).stdout.strip()
    assert ok(client(api_crun, "image", "inspect", "--format", "{{.Id}}", IMAGE)) == ident + "\n"
    ok(client(api_crun, "image", "tag", IMAGE, "localhost/grouped:1"))
    assert "localhost/grouped" in ok(client(api_crun, "image", "ls"))
    assert ok(client(api_crun, "image", "rm", "localhost/grouped:1")) == "Untagged: localhost/grouped:1\n"
    assert ok(client(api_crun, "container", "rm", "-f", "rg")) == "rg\n"


def test_remote_publish_without_host_port_is_picked_by_the_service(api_crun):
    ok(client(api_crun, "run", "-d", "--name", "rpp", "-p", "80", IMAGE, "sleep", "600"))
    try:
        (line,) = ok(client(api_crun, "port", "rpp")).splitlines()
        key, _, host = line.partition(" -> ")
        assert key == "80/tcp" and int(host.rpartition(":")[2]) > 0, line
        assert api_crun.env("port", "rpp").stdout == line + "\n"
    finally:
        client(api_crun, "rm", "-f", "rpp")


def test_remote_exists_prune_history_tree_df_and_update(api_crun, tmp_path):
    ok(client(api_crun, "run", "-d", "--name", "rx", IMAGE, "sleep", "600"))
    ok(client(api_crun, "run", "--name", "rdone", IMAGE, "true"))
    assert client(api_crun, "container", "exists", "rx").returncode == 0
    assert client(api_crun, "container", "exists", "nope").returncode == 1
    assert client(api_crun, "image", "exists", IMAGE).returncode == 0
    assert client(api_crun, "image", "exists", "nope").returncode == 1
    api_crun.env("exec", "rx", "touch", "/tmp/new", check=True)
    for verb in (("diff", "rx"), ("container", "diff", "--format", "json", "rx"), ("image", "diff", IMAGE),
                 ("diff", IMAGE)):
        assert ok(client(api_crun, *verb)) == api_crun.env(*verb, check=True).stdout, verb
    assert "A /tmp/new" in ok(client(api_crun, "diff", "rx")).splitlines()
    missing = client(api_crun, "diff", "nope")
    assert missing.returncode == 125 and len(missing.stderr.splitlines()) == 1, missing.stderr
    for verb in (("history", "--format", "json", IMAGE),
                 ("image", "history", "--no-trunc", "--format", "{{.ID}} {{.Size}}", IMAGE), ("image", "tree", IMAGE)):
        assert ok(client(api_crun, *verb)) == api_crun.env(*verb, check=True).stdout, verb
    types = "{{.Type}} {{.Total}} {{.Active}}"
    assert ok(client(api_crun, "system", "df", "--format", types)) \
        == api_crun.env("system", "df", "--format", types, check=True).stdout
    ident = api_crun.env("inspect", "--format", "{{.Id}}", "rx", check=True).stdout
    assert ok(client(api_crun, "update", "--memory", "64m", "--pids-limit", "100", "--restart", "on-failure:2",
                     "rx")) == ident
    assert api_crun.env("inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} "
                        "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
                        "rx", check=True).stdout == "67108864 100 on-failure:2\n"
    bad = client(api_crun, "container", "update", "--memory", "lots", "rx")
    assert bad.returncode == 125 and len(bad.stderr.splitlines()) == 1, bad.stderr
    done = api_crun.env("inspect", "--format", "{{.Id}}", "rdone", check=True).stdout
    assert ok(client(api_crun, "container", "prune", "-f")) == done
    assert client(api_crun, "container", "exists", "rdone").returncode == 1
    ok(client(api_crun, "image", "prune", "-a", "-f"))  # the image rx uses stays
    assert client(api_crun, "image", "exists", IMAGE).returncode == 0
    unreachable = client(api_crun, "search", "--tls-verify=false", "127.0.0.1:1/busybox")
    assert unreachable.returncode == 125 and len(unreachable.stderr.splitlines()) == 1, unreachable.stderr
    ok(client(api_crun, "rm", "-f", "rx"))


def _ages_out(text: str) -> str:
    """`system df` text with its durations and column padding folded (a second may pass between
    two runs)."""
    import re

    text = re.sub(r"(Less than a second|About an? \w+|\d+ \w+)( ago)?", "T", text)
    return re.sub(r" {2,}", "  ", text)


def test_remote_system_df_is_the_local_one(api_crun):
    """The service's report printed by the local printers: the summary (with the build cache
    row) and -v's tables, as `system df` on the service's host prints them."""
    env = api_crun.env
    env("volume", "create", "rdfv", check=True)
    env("run", "--name", "rdf", "-v", "rdfv:/data", IMAGE, "sh", "-c", "echo x > /data/f; echo y > /f", check=True)
    try:
        for verb in (("system", "df"), ("system", "df", "-v"), ("system", "df", "--format", "json")):
            local = env(*verb, check=True).stdout
            assert _ages_out(ok(client(api_crun, *verb))) == _ages_out(local), verb
        verbose = ok(client(api_crun, "system", "df", "-v"))
        assert "\nBuild Cache space usage:\n" in verbose and any(line.startswith("rdfv ") for line in
                                                                 verbose.splitlines())
        image = env("image", "inspect", "--format", "{{.Id}}", IMAGE, check=True).stdout[:12]
        row = next(line for line in verbose.splitlines() if line.endswith(" rdf")).split("  ")
        row = [column.strip() for column in row if column]
        assert row[1] == image and row[2].startswith("sh -c ") and row[3] == "1", row  # IMAGE: its ID (podman's)
        both = client(api_crun, "system", "df", "-v", "--format", "json")
        assert (both.returncode, both.stderr) == (125, "Error: cannot combine --format and --verbose flags\n")
    finally:
        env("rm", "-f", "rdf")
        env("volume", "rm", "rdfv")


def test_remote_login_and_logout_keep_credentials_on_the_client(api_crun, tmp_path):
    authfile = tmp_path / "auth.json"
    authfile.write_text('{"auths": {"registry.example:5000": {"auth": "dTpw"}}}')
    done = ok(client(api_crun, "logout", "--authfile", str(authfile), "registry.example:5000"))
    assert done == "Removed login credentials for registry.example:5000\n"
    assert "registry.example" not in authfile.read_text()


@needs_registry
def test_remote_login_stores_on_the_client_and_search_asks_the_service(husk_envs, tmp_path):
    from husk.testing import start_registry

    locked = start_registry(str(tmp_path / "locked"), "basic")
    open_ = start_registry(str(tmp_path / "open"))
    env = open_.trust(locked.trust(husk_envs("crun")))
    service = ApiService(env, os.path.join(tempfile.mkdtemp(prefix="hapi-"), "s.sock"))
    try:
        authfile = tmp_path / "client-auth.json"
        done = client(service, "login", "-u", locked.user, "-p", locked.password, "--authfile", str(authfile),
                      locked.host)
        assert (done.returncode, done.stdout) == (0, "Login Succeeded!\n"), done.stderr
        assert locked.host in authfile.read_text()
        assert not os.path.exists(env.extra_env["REGISTRY_AUTH_FILE"])  # nothing on the service's side
        assert ok(client(service, "logout", "--authfile", str(authfile), locked.host)) \
            == f"Removed login credentials for {locked.host}\n"
        env("push", IMAGE, f"docker://{open_.host}/remote/findme:1", check=True, timeout=300)
        found = ok(client(service, "search", "--format", "{{.Name}}", f"{open_.host}/findme"))
        assert found == f"{open_.host}/remote/findme\n"
        assert found == env("search", "--format", "{{.Name}}", f"{open_.host}/findme", check=True).stdout
    finally:
        err = service.stop()
        shutil.rmtree(os.path.dirname(service.socket_path), ignore_errors=True)
        locked.stop()
        open_.stop()
    assert "Traceback" not in err, err


def test_remote_checkpoint_restore_and_streamed_export_import(api_runc, tmp_path):
    status = "{{.State.Status}}"
    ok(client(api_runc, "run", "-d", "--name", "rck", IMAGE, "sleep", "600"))
    assert ok(client(api_runc, "container", "checkpoint", "rck")) == "rck\n"
    assert api_runc.env("inspect", "--format", status, "rck", check=True).stdout == "exited\n"
    assert ok(client(api_runc, "container", "restore", "rck")) == "rck\n"
    assert api_runc.env("inspect", "--format", status, "rck", check=True).stdout == "running\n"
    archive = tmp_path / "rck.tar"
    assert ok(client(api_runc, "checkpoint", "-R", "-e", str(archive), "rck")) == "rck\n"
    assert archive.stat().st_size > 0
    assert api_runc.env("inspect", "--format", status, "rck", check=True).stdout == "running\n"
    copy = ok(client(api_runc, "restore", "-i", str(archive), "-n", "rck2")).strip()
    assert copy == api_runc.env("inspect", "--format", "{{.Id}}", "rck2", check=True).stdout.strip()
    assert api_runc.env("inspect", "--format", status, "rck2", check=True).stdout == "running\n"
    wrong = client(api_runc, "restore", "-n", "x", "rck")
    assert wrong.returncode == 125 and "--import" in wrong.stderr
    ok(client(api_runc, "rm", "-f", "rck", "rck2"))


def test_remote_healthcheck_run(api_crun):
    api_crun.env("run", "-d", "--name", "rhc", "--health-cmd", "test -e /tmp/ok", "--health-interval", "0",
                 IMAGE, "sleep", "600", check=True)
    failed = client(api_crun, "healthcheck", "run", "rhc")
    assert (failed.returncode, failed.stdout) == (1, "unhealthy\n"), failed.stderr
    api_crun.env("exec", "rhc", "touch", "/tmp/ok", check=True)
    assert ok(client(api_crun, "healthcheck", "run", "rhc")) == ""
    missing = client(api_crun, "healthcheck", "run", "nope")
    assert missing.returncode == 125 and len(missing.stderr.splitlines()) == 1, missing.stderr
    ok(client(api_crun, "rm", "-f", "rhc"))


def test_remote_system_prune(api_crun, tmp_path):
    ok(client(api_crun, "run", "--name", "rsp", IMAGE, "true"))
    ok(client(api_crun, "run", "-d", "--name", "rsp-up", IMAGE, "sleep", "600"))
    ok(client(api_crun, "network", "create", "rspnet"))
    ok(client(api_crun, "volume", "create", "rspvol"))
    done = api_crun.env("inspect", "--format", "{{.Id}}", "rsp", check=True).stdout.strip()
    asked = client(api_crun, "system", "prune", input="n\n")
    assert asked.returncode == 0 and "WARNING!" in asked.stdout
    assert client(api_crun, "container", "exists", "rsp").returncode == 0
    out = ok(client(api_crun, "system", "prune", "-f", "--volumes")).splitlines()
    assert out[:6] == ["Deleted Containers", done, "Deleted Networks", "rspnet", "Deleted Volumes", "rspvol"], out
    assert out[-1].startswith("Total reclaimed space: ")
    assert client(api_crun, "container", "exists", "rsp-up").returncode == 0
    assert client(api_crun, "image", "exists", IMAGE).returncode == 0
    # the service's build cache goes too (libpod's /system/prune does what `system prune` does there)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Containerfile").write_text(f"FROM {IMAGE}\nRUN echo hi > /c\n")
    api_crun.env("build", "-t", "localhost/rsp-built:1", str(context), check=True, timeout=300)
    cache = "{{if eq .Type \"Build Cache\"}}{{.Total}}{{end}}"
    assert api_crun.env("system", "df", "--format", cache, check=True).stdout.strip() != "0"
    out = ok(client(api_crun, "system", "prune", "-f", "-a")).splitlines()
    assert "Deleted Build Cache" in out and "Deleted Images" in out, out
    assert api_crun.env("system", "df", "--format", cache, check=True).stdout.strip() == "0"
    bad = client(api_crun, "system", "prune", "-f", "--filter", "nope=1")
    assert (bad.returncode, bad.stdout) == (125, "") and len(bad.stderr.splitlines()) == 1, bad.stderr
    ok(client(api_crun, "rm", "-f", "rsp-up"))
    podman = shutil.which("podman")
    if podman is not None:  # podman 4.3 as the client of the same route
        api_crun.env("create", "--name", "rsp-podman", IMAGE, "true", check=True)
        done = subprocess.run([podman, "--remote", "--url", f"unix://{api_crun.socket_path}", "system", "prune", "-f"],
                              capture_output=True, text=True, timeout=120, env=api_crun.env.env())
        assert done.returncode == 0 and "Total reclaimed space" in done.stdout, (done.stdout, done.stderr)
        assert client(api_crun, "container", "exists", "rsp-podman").returncode == 1, done.stdout


def test_remote_pod_logs_and_stats(api_crun):
    ok(client(api_crun, "pod", "create", "--name", "rlp"))
    ok(client(api_crun, "run", "-d", "--pod", "rlp", "--name", "rlp-a", IMAGE, "sh", "-c", "echo from-a; sleep 600"))
    ok(client(api_crun, "run", "-d", "--pod", "rlp", "--name", "rlp-b", IMAGE, "sh", "-c", "echo from-b; sleep 600"))
    try:
        for name in ("rlp-a", "rlp-b"):  # each has written its line before its log is read
            deadline = time.monotonic() + 120
            while not api_crun.env("logs", name).stdout:
                assert time.monotonic() < deadline, f"{name} wrote nothing"
                time.sleep(0.1)
        ids = {name: api_crun.env("inspect", "--format", "{{.Id}}", name, check=True).stdout[:12]
               for name in ("rlp-a", "rlp-b")}
        assert sorted(ok(client(api_crun, "pod", "logs", "rlp")).splitlines()) \
            == sorted([f"{ids['rlp-a']} from-a", f"{ids['rlp-b']} from-b"])
        assert sorted(ok(client(api_crun, "pod", "logs", "-n", "rlp")).splitlines()) == ["rlp-a from-a", "rlp-b from-b"]
        assert ok(client(api_crun, "pod", "logs", "-c", "rlp-b", "--names", "rlp")) == "from-b\n"
        colored = sorted(ok(client(api_crun, "pod", "logs", "--color", "rlp")).splitlines())
        assert sorted(line[:5] for line in colored) == ["\033[31m", "\033[37m"], colored
        for verb in (("logs", "rlp-a", "rlp-b"), ("logs", "--color", "-n", "-t", "rlp-b", "rlp-a")):
            assert ok(client(api_crun, *verb)) == api_crun.env(*verb, check=True).stdout, verb
        alone = client(api_crun, "pod", "logs", "-c", "nope", "rlp")
        assert alone.returncode == 125 and "not in pod" in alone.stderr
        pod = api_crun.env("pod", "inspect", "--format", "{{.Id}}", "rlp", check=True).stdout.strip()
        rows = ok(client(api_crun, "pod", "stats", "--no-stream", "--format", "{{.Pod}} {{.Name}}", "rlp"))
        assert {f"{pod[:12]} rlp-a", f"{pod[:12]} rlp-b"} <= set(rows.splitlines()), rows
        local = api_crun.env("pod", "stats", "--no-stream", "--format", "{{.Pod}} {{.Name}}", "rlp", check=True)
        assert sorted(rows.splitlines()) == sorted(local.stdout.splitlines())
    finally:
        client(api_crun, "pod", "rm", "-f", "rlp")
