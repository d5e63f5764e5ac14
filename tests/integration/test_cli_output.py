"""What podman users' scripts read from husk: ps, inspect, info, version, events, logs, images.

Each test runs the real CLI on real containers (crun) and checks the text a
script would parse, against podman's formats.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

from husk.testing import IMAGE


ID12 = r"[0-9a-f]{12}"
RFC3339NANO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z"
#: a time.Time in a template, as Go's String() prints it (podman 4.3.1: `2026-12-05 10:36:38.364693463 +0000 UTC`)
GO_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{0,8}[1-9])? \+0000 UTC"


def _names(husk, *args):
    return husk("ps", "-a", "--format", "{{.Names}}", *args, check=True).stdout.split()


def test_ps_table_filters_sort_and_formats(husk):
    husk("run", "-d", "--name", "up", "-l", "tier=web", "busybox", "sleep", "1000", check=True)
    husk("run", "--name", "three", "-l", "tier=db", "busybox", "sh", "-c", "exit 3")
    husk("create", "--name", "new", "busybox", "echo", "a long command line that is truncated", check=True)

    lines = husk("ps", "-a", check=True).stdout.splitlines()
    assert re.fullmatch(r"CONTAINER ID  IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES", lines[0])
    rows = {line.split()[-1]: line for line in lines[1:]}
    assert set(rows) == {"up", "three", "new"}
    assert re.match(ID12 + r"  ", rows["up"])
    assert re.search(r"  (Less than a second|\d+ seconds?) ago  +Up (Less than a second|\d+ seconds?) ago  ", rows["up"])
    assert re.search(r"  Exited \(3\) (Less than a second|\d+ seconds?) ago  ", rows["three"])
    assert re.search(r"  Created  ", rows["new"]) and "echo a long comma...  " in rows["new"]
    assert [line.split()[-1] for line in lines[1:]] == ["new", "three", "up"]  # newest first

    assert [line.split()[-1] for line in husk("ps", check=True).stdout.splitlines()[1:]] == ["up"]
    noheading = husk("ps", "-a", "--noheading", check=True).stdout.splitlines()
    assert [(line.split()[0], line.split()[-1]) for line in noheading] == \
        [(line.split()[0], line.split()[-1]) for line in lines[1:]]
    no_trunc = husk("ps", "-a", "--no-trunc", "--noheading", check=True).stdout.splitlines()
    assert all(re.match(r"[0-9a-f]{64}  ", line) for line in no_trunc)
    assert "a long command line that is truncated" in "\n".join(no_trunc)
    quiet = husk("ps", "-aq", check=True).stdout.split()
    assert len(quiet) == 3 and all(re.fullmatch(ID12, q) for q in quiet)
    assert _names(husk, "--sort", "names") == ["new", "three", "up"]
    assert _names(husk, "--sort", "created") == ["new", "three", "up"]

    assert sorted(_names(husk, "--filter", "name=up", "--filter", "name=new")) == ["new", "up"]
    assert _names(husk, "--filter", "name=up", "--filter", "status=exited") == []
    assert _names(husk, "--filter", "name=three", "--filter", "status=exited") == ["three"]
    assert _names(husk, "--filter", "status=created") == ["new"]
    assert sorted(_names(husk, "--filter", "status=created", "--filter", "status=running")) == ["new", "up"]
    assert _names(husk, "--filter", "exited=3") == ["three"]
    assert _names(husk, "--filter", "label=tier=web") == ["up"]
    assert sorted(_names(husk, "--filter", "label=tier")) == ["three", "up"]
    up_id = husk("inspect", "--format", "{{.Id}}", "up", check=True).stdout.strip()
    assert _names(husk, "--filter", f"id={up_id[:5]}") == ["up"]

    fields = husk("ps", "--format", "{{.ID}}|{{.Names}}|{{.Image}}|{{.Command}}|{{.Status}}|{{.State}}|"
                  "{{.CreatedAt}}|{{.Labels}}", check=True).stdout.strip().split("|")
    assert fields[0] == up_id[:12] and fields[1:4] == ["up", "localhost/busybox:latest", "sleep 1000"]
    assert fields[4].startswith("Up ") and fields[5] == "running"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \w+", fields[6])
    assert fields[7] == "map[tier:web]"
    states = husk("ps", "-a", "--format", "{{.Names}}={{.State}}", check=True).stdout.split()
    assert sorted(states) == ["new=created", "three=exited", "up=running"]

    table = husk("ps", "-a", "--format", "table {{.ID}}\t{{.Names}}", check=True).stdout.splitlines()
    assert table[0] == "CONTAINER ID  NAMES" and re.fullmatch(ID12 + r"  new", table[1])
    table = husk("ps", "-a", "--format", r"table {{.ID}}\t{{.Names}}", check=True).stdout.splitlines()
    assert table[0] == "CONTAINER ID  NAMES"

    documents = json.loads(husk("ps", "-a", "--format", "json", check=True).stdout)
    by_name = {d["Names"][0]: d for d in documents}
    assert by_name["up"]["Id"] == up_id and by_name["up"]["State"] == "running"
    assert by_name["up"]["Command"] == ["sleep", "1000"] and by_name["up"]["Labels"] == {"tier": "web"}
    assert by_name["new"]["Command"][-1] == "a long command line that is truncated"
    assert by_name["three"]["ExitCode"] == 3 and by_name["three"]["Exited"] is True
    assert isinstance(by_name["up"]["Created"], int) and by_name["up"]["CreatedAt"].endswith("ago")

    result = husk("ps", "--format", "{{.Nope}}")
    assert result.returncode == 125 and result.stdout == ""
    assert result.stderr.startswith("Error: template: ") and "can't evaluate field Nope" in result.stderr


def test_inspect_fields(husk, tmp_path):
    husk("run", "-d", "--name", "web", "-e", "FOO=bar", "-l", "app=x", "--stop-signal", "SIGUSR1",
         "--restart", "on-failure:3", "-v", f"{tmp_path}:/data:ro", "busybox", "sleep", "1000", check=True)
    husk("run", "--name", "done", "busybox", "sh", "-c", "exit 4")

    fmt = ("{{.Name}}|{{.State.Status}}|{{.State.Running}}|{{.State.Paused}}|{{.State.ExitCode}}|{{.State.Pid}}|"
           "{{.State.StartedAt}}|{{.State.FinishedAt}}|{{.State.Checkpointed}}|{{.RestartCount}}|{{.ImageName}}|"
           "{{.OCIRuntime}}|{{.Config.Cmd}}|{{.Config.Labels}}|{{.Config.StopSignal}}|"
           "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}|"
           "{{.HostConfig.LogConfig.Type}}|{{.HostConfig.LogConfig.Path}}|{{len .Mounts}}|{{.Id}}|{{.Image}}")
    web, done = (line.split("|") for line in husk("inspect", "--format", fmt, "web", "done",
                                                      check=True).stdout.splitlines())
    assert web[:6] == ["web", "running", "true", "false", "0", web[5]] and int(web[5]) > 0
    assert re.fullmatch(GO_TIME, web[6]) and web[7] == "0001-01-01 00:00:00 +0000 UTC"
    assert web[8:13] == ["false", "0", "localhost/busybox:latest", "crun", "[sleep 1000]"]
    assert web[13:17] == ["map[app:x]", "10", "on-failure:3", "k8s-file"]
    assert web[17].endswith("/userdata/ctr.log") and web[17].startswith(husk.root) and web[18] == "1"
    assert re.fullmatch(r"[0-9a-f]{64}", web[19]) and re.fullmatch(r"[0-9a-f]{64}", web[20])
    assert done[1] in ("stopped", "exited") and done[2:6] == ["false", "false", "4", "0"]  # cleanup may lag
    assert re.fullmatch(GO_TIME, done[7])

    state = json.loads(husk("inspect", "--format", "{{json .State}}", "web", check=True).stdout)
    assert state["Status"] == "running" and state["Running"] is True
    mounts = json.loads(husk("inspect", "--format", "{{json .Mounts}}", "web", check=True).stdout)
    assert mounts[0]["Source"] == str(tmp_path) and mounts[0]["Destination"] == "/data"
    assert mounts[0]["RW"] is False

    documents = json.loads(husk("inspect", "web", "done", check=True).stdout)
    assert [d["Name"] for d in documents] == ["web", "done"]
    result = husk("inspect", "web", "nope", "done")
    assert result.returncode == 125 and result.stderr == 'Error: inspecting object: no such object: "nope"\n'
    assert [d["Name"] for d in json.loads(result.stdout)] == ["web", "done"]
    result = husk("inspect", "nope")  # podman 4.3: an empty array, and its words
    assert (result.returncode, result.stdout) == (125, "[]\n")
    assert result.stderr == 'Error: inspecting object: no such object: "nope"\n'
    result = husk("inspect", "nope", "--type", "container", "nope2")  # several: the first last, as podman
    assert result.stderr.splitlines() == ["error inspecting object: no such container nope2",
                                          "Error: inspecting object: no such container nope"]
    result = husk("image", "inspect", "nope")
    assert (result.returncode, result.stderr) == (125, "Error: inspecting object: nope: image not known\n")
    assert husk("container", "inspect", "--format", "{{.Name}}", "web", check=True).stdout == "web\n"
    result = husk("container", "inspect", IMAGE)  # containers only, as podman's
    assert (result.returncode, result.stdout) == (125, "[]\n")
    assert result.stderr == f"Error: inspecting object: no such container {IMAGE}\n"
    result = husk("inspect", "--format", "{{.Name}}", "nope", "web")
    assert (result.returncode, result.stdout) == (125, "web\n")
    result = husk("inspect", "--format", "{{.State.Nope}}", "web")
    assert result.returncode == 125 and "can't evaluate field Nope" in result.stderr


def test_inspect_env_is_what_the_process_gets(husk):
    real = husk("run", "--name", "envy", "-e", "FOO=bar", "busybox", "env", check=True).stdout.split()
    shown = json.loads(husk("inspect", "--format", "{{json .Config.Env}}", "envy", check=True).stdout)
    assert sorted(shown) == sorted(real)


def test_info_and_version(husk):
    out = husk("info", "--format", "{{.Host.OCIRuntime.Name}}|{{.Host.OCIRuntime.Path}}|{{.Host.EventLogger}}|"
               "{{.Host.LogDriver}}|{{.Store.GraphRoot}}|{{.Store.RunRoot}}", check=True).stdout.strip()
    assert out.split("|") == ["crun", "/usr/bin/crun", "file", "k8s-file", husk.root, husk.runroot]
    document = json.loads(husk("info", "--format", "json", check=True).stdout)
    assert {"runc", "crun"} <= set(document["Plugins"]["Loaded"])
    assert all(document["Plugins"]["Loaded"][name] for name in ("runc", "crun"))
    assert "1.8.1" in document["Runtimes"]["crun"]["Version"] and "runc" in document["Runtimes"]["runc"]["Version"]
    assert document["Store"]["ImageStore"]["number"] == 1
    # host facts for bug reports: cgroup mode, CRIU and whether it checkpoints, the interpreter
    assert document["Host"]["CgroupMode"] in ("unified", "hybrid", "legacy")
    assert set(document["Host"]["CRIU"]) == {"Path", "Version", "Checkpoints"}
    assert os.path.samefile(document["Python"]["Executable"], sys.executable)
    assert "OCIRuntime:" in husk("info", check=True).stdout
    client, server = husk("version", "--format", "{{.Client.Version}} {{.Server.Version}}",
                          check=True).stdout.split()
    assert client == server and re.fullmatch(r"\d+\.\d+\.\d+.*", client)
    assert json.loads(husk("version", "--format", "json", check=True).stdout)["Client"]["Version"] == client


def test_events_text_filters_times_and_formats(husk):
    start = time.time()
    husk("run", "--name", "ev1", "-l", "team=blue", "busybox", "true", check=True)
    time.sleep(1.1)
    middle = time.time()
    husk("run", "--name", "ev2", "busybox", "sh", "-c", "exit 2")
    ev1 = husk("inspect", "--format", "{{.Id}}", "ev1", check=True).stdout.strip()

    lines = husk("events", "--stream=false", "--filter", "container=ev1", check=True).stdout.splitlines()
    statuses = [line.split()[5] for line in lines]
    assert [s for s in statuses if s in ("create", "init", "start", "died")] == ["create", "init", "start", "died"]
    died = next(line for line in lines if " died " in line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \w+ container died "
                        + ev1 + r" \(image=localhost/busybox:latest, name=ev1, team=blue\)", died)

    def statuses_of(*args):
        return husk("events", "--stream=false", "--format", "{{.Name}}:{{.Status}}", *args,
                    check=True).stdout.split()

    assert statuses_of("--filter", "event=died") == ["ev1:died", "ev2:died"]
    assert statuses_of("--filter", "event=died", "--filter", "event=start") == \
        ["ev1:start", "ev1:died", "ev2:start", "ev2:died"]
    assert statuses_of("--filter", "event=died", "--filter", "container=ev2") == ["ev2:died"]
    assert statuses_of("--filter", "label=team=blue", "--filter", "event=start") == ["ev1:start"]
    assert statuses_of("--filter", "type=image") == ["localhost/busybox:latest:import"]
    assert statuses_of("--filter", "event=died", "--since", str(middle)) == ["ev2:died"]
    assert statuses_of("--filter", "event=died", "--until", str(middle)) == ["ev1:died"]
    assert statuses_of("--filter", "event=died", "--since", "1h") == ["ev1:died", "ev2:died"]
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start - 5))
    assert statuses_of("--filter", "event=died", "--since", since) == ["ev1:died", "ev2:died"]

    fields = husk("events", "--stream=false", "--filter", "event=start", "--filter", "container=ev1", "--format",
                  "{{.ID}}|{{.Image}}|{{.Status}}|{{.Name}}|{{.Time}}|{{.Attributes}}", check=True).stdout
    ident, image, status, name, when, attributes = fields.strip().split("|")
    assert (ident, image, status, name, attributes) == (ev1, "localhost/busybox:latest", "start", "ev1", "map[team:blue]")
    assert abs(int(when) - start) < 30
    records = [json.loads(line) for line in husk("events", "--stream=false", "--format", "json", "--filter",
                                                  "event=died", check=True).stdout.splitlines()]
    assert [(r["Name"], r["ContainerExitCode"]) for r in records] == [("ev1", 0), ("ev2", 2)]


def test_events_stream_shows_another_process_and_ends_at_until(husk):
    began = time.monotonic()
    stream = husk.popen("events", "--until", "4s", "--filter", "event=start", "--format", "{{.Name}} {{.Status}}",
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.7)
    husk("run", "--rm", "--name", "streamed", "busybox", "true", check=True)
    out, err = stream.communicate(timeout=20)
    assert (stream.returncode, out, err) == (0, "streamed start\n", "")
    assert 3 < time.monotonic() - began < 15


def test_logs_tail_timestamps_since_follow_and_restarts(husk):
    husk("run", "--name", "talk", "busybox", "sh", "-c", "for i in 1 2 3 4; do echo out$i; done; echo oops >&2",
         check=True)
    result = husk("logs", "talk", check=True)
    assert (result.stdout, result.stderr) == ("out1\nout2\nout3\nout4\n", "oops\n")
    result = husk("logs", "--tail", "2", "talk", check=True)
    assert (result.stdout, result.stderr) == ("out4\n", "oops\n")
    assert husk("logs", "--tail", "0", "talk", check=True).stdout == ""
    stamped = husk("logs", "-t", "--tail", "3", "talk", check=True).stdout.splitlines()
    assert [re.fullmatch(RFC3339NANO + r" (out\d)", line).group(2) for line in stamped] == ["out3", "out4"]

    time.sleep(1.1)
    mark = time.time()
    husk("start", "talk", check=True)
    assert husk("wait", "talk", check=True).stdout == "0\n"
    assert husk("logs", "talk", check=True).stdout == "out1\nout2\nout3\nout4\n" * 2
    assert husk("logs", "--since", str(mark), "talk", check=True).stdout == "out1\nout2\nout3\nout4\n"
    assert husk("logs", "--since", "1h", "talk", check=True).stdout.count("out1") == 2

    husk("run", "--name", "other", "busybox", "echo", "second", check=True)
    both = husk("logs", "talk", "other", check=True).stdout.splitlines()
    ids = {name: husk("inspect", "--format", "{{.Id}}", name, check=True).stdout[:12] for name in ("talk", "other")}
    assert both[-1] == f"{ids['other']} second" and both[0] == f"{ids['talk']} out1"

    husk("run", "-d", "--name", "slow", "busybox", "sh", "-c", "echo first; sleep 1.5; echo last", check=True)
    follower = husk.popen("logs", "-f", "slow", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = follower.communicate(timeout=20)
    assert (follower.returncode, out, err) == (0, "first\nlast\n", "")


def test_images_exists_rmi_and_import_changes(husk, busybox_tar):
    lines = husk("images", check=True).stdout.splitlines()
    assert re.fullmatch(r"REPOSITORY +TAG +IMAGE ID +CREATED +SIZE", lines[0])
    assert re.fullmatch(r"localhost/busybox +latest +" + ID12 + r" +.* ago +[\d.]+ [kMG]?B", lines[1])
    image_id = husk("images", "-q", check=True).stdout.strip()
    assert re.fullmatch(ID12, image_id)
    assert husk("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", check=True).stdout == \
        f"localhost/busybox:latest {image_id}\n"
    assert husk("image", "exists", "busybox").returncode == 0
    assert husk("image", "exists", "nope").returncode == 1

    changes = ["CMD=echo $GREETING from $(pwd) as $(id -u)", "ENV=GREETING=hello", "WORKDIR=/tmp",
               "LABEL=owner=me", "USER=1000"]
    with open(busybox_tar, "rb") as tar:
        result = husk("import", *[arg for change in changes for arg in ("--change", change)], "-", "custom:v1",
                      input=tar.read())
    assert result.returncode == 0, result.stderr
    shown = husk("image", "inspect", "--format", "{{.Config.Cmd}}|{{.Config.Env}}|{{.Config.WorkingDir}}|"
                 "{{.Config.Labels}}|{{.Config.User}}", "custom:v1", check=True).stdout.strip()
    assert shown == "[/bin/sh -c echo $GREETING from $(pwd) as $(id -u)]|[GREETING=hello]|/tmp|map[owner:me]|1000"
    assert husk("run", "--rm", "custom:v1", check=True).stdout == "hello from /tmp as 1000\n"
    husk("import", "--change", 'ENTRYPOINT=["/bin/echo", "said:"]', busybox_tar, "echoer", check=True)
    assert husk("run", "--rm", "echoer", "hi", check=True).stdout == "said: hi\n"
    assert husk("image", "inspect", "--format", "{{.Config.Entrypoint}}", "echoer",
                check=True).stdout == "[/bin/echo said:]\n"

    husk("create", "--name", "user1", "custom:v1", check=True)
    result = husk("rmi", "custom:v1")
    assert result.returncode == 2
    assert re.fullmatch(r"Error: image used by [0-9a-f]{64}: image is in use by a container: consider listing "
                        r"external containers and force-removing image\n", result.stderr)
    assert husk("image", "exists", "custom:v1").returncode == 0
    result = husk("rmi", "-f", "custom:v1", check=True)
    assert "Untagged: localhost/custom:v1" in result.stdout
    assert husk("image", "exists", "custom:v1").returncode == 1
    assert husk("container", "exists", "user1").returncode == 1
    result = husk("rmi", "custom:v1")
    assert result.returncode == 1 and result.stderr == "Error: custom:v1: image not known\n"
