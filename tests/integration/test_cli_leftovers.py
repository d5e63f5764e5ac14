"""Issue 12's leftovers on real runtimes: `container cleanup --exec`, info and
version in podman's shape, stop's `stopping` state, `images --history`."""

from __future__ import annotations

import json
import os
import time

IMAGE = "busybox"


def test_cleanup_exec_forgets_an_ended_session_and_refuses_a_running_one(husk_rt):
    husk_rt("run", "-d", "--name", "c", IMAGE, "sleep", "1000", check=True)
    session = husk_rt("exec", "-d", "c", "sh", "-c", "while [ ! -e /go ]; do sleep 0.1; done", check=True).stdout.strip()
    running = husk_rt("container", "cleanup", "--exec", session, "c")
    assert running.returncode == 125
    assert running.stderr == (f"Error: cannot clean up exec session {session} as it is running: "
                              "container state improper\n")
    container_id = husk_rt("inspect", "-f", "{{.Id}}", "c", check=True).stdout.strip()
    files = os.path.join(husk_rt.runroot, "containers", container_id, "exec", session)
    assert os.path.isdir(files)
    merged = husk_rt("mount", "c", check=True).stdout.strip()
    open(os.path.join(merged, "go"), "w").close()
    # once it ends, the session's own exit command runs this cleanup, as podman's does;
    # it drops the record first and the run files after it, so wait for both
    deadline = time.monotonic() + 90
    while (husk_rt("inspect", "-f", "{{len .ExecIDs}}", "c", check=True).stdout.strip() != "0"
           or os.path.exists(files)):
        assert time.monotonic() < deadline, "the ended session was never cleaned up"
        time.sleep(0.2)
    assert [e["attributes"]["containerExitCode"] for e in husk_rt.events("exec_died")
            if e["attributes"]["execID"] == session] == ["0"]
    gone = husk_rt("container", "cleanup", "--exec", session, "c")
    assert gone.returncode == 125 and f"no exec session with ID {session} found" in gone.stderr
    both = husk_rt("container", "cleanup", "--exec", session, "--all")
    assert both.returncode == 125 and "--exec cleans up one container's session" in both.stderr
    husk_rt("umount", "c", check=True)
    husk_rt("rm", "-f", "-t", "0", "c", check=True)


def test_info_templates_and_version_lines_as_podmans(husk):
    """podman's own `info` templates give the same host facts on husk (issue 12 item 6)."""
    import subprocess

    template = ("{{.Host.Distribution.Distribution}}|{{.Host.Distribution.Version}}|{{.Host.Distribution.Codename}}|"
                "{{.Host.Kernel}}|{{.Host.CPUs}}|{{.Host.CgroupsVersion}}|{{.Host.CgroupControllers}}|"
                "{{.Host.CgroupManager}}|{{.Host.Arch}}|{{.Host.OS}}|{{.Host.Hostname}}|{{.Host.MemTotal}}|"
                "{{.Host.SwapTotal}}|{{.Host.Security.SECCOMPEnabled}}|{{.Host.Security.Rootless}}|"
                "{{.Host.NetworkBackend}}|{{.Host.OCIRuntime.Name}}|{{.Host.OCIRuntime.Path}}|{{.Store.GraphDriverName}}|"
                "{{index .Store.GraphStatus \"Backing Filesystem\"}}|{{.Plugins.Network}}|{{.Version.OsArch}}")
    import shutil
    import tempfile

    short = tempfile.mkdtemp(prefix="hkpi")  # podman wants a run root under 50 characters
    try:
        podman = subprocess.run(["podman", "--root", os.path.join(short, "r"), "--runroot", os.path.join(short, "u"),
                                 "--runtime", "crun", "info", "--format", template],
                                capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run(["umount", "-l", os.path.join(short, "r", "overlay")], capture_output=True)
        shutil.rmtree(short, ignore_errors=True)
    assert podman.returncode == 0, podman.stderr
    ours = husk("info", "--format", template, check=True).stdout
    assert ours == podman.stdout
    store = husk("info", "--format", "{{.Store.GraphRoot}} {{.Store.RunRoot}} {{.Store.ContainerStore.Number}} "
                 "{{.Store.ImageStore.Number}} {{.Plugins.Volume}}", check=True).stdout
    assert store == f"{husk.root} {husk.runroot} 0 1 [local]\n"
    assert "CgroupControllers:\n    - " in husk("info", check=True).stdout  # YAML, as podman prints it
    labels = lambda text: [line.split(":", 1)[0] for line in text.splitlines()]  # noqa: E731
    podman_version = subprocess.run(["podman", "version"], capture_output=True, text=True, timeout=60, check=True)
    assert labels(husk("version", check=True).stdout) == labels(podman_version.stdout)
    built = husk("version", "--format", "{{.Client.Built}} {{.Client.BuiltTime}}", check=True).stdout.split(" ", 1)
    assert int(built[0]) > 0 and time.strftime("%Y", time.localtime(int(built[0]))) in built[1]


def test_stop_shows_the_stopping_state_while_it_waits(husk_rt):
    """podman's `stopping`: inspect, ps and `wait --condition stopping` see it
    while a stop waits for a process that ignores its stop signal."""
    import signal
    import subprocess

    husk_rt("run", "-d", "--name", "s", IMAGE, "sleep", "1000", check=True)  # pid 1 ignores SIGTERM
    pid = int(husk_rt("inspect", "-f", "{{.State.Pid}}", "s", check=True).stdout)
    stopping = husk_rt.popen("stop", "-t", "600", "s", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert husk_rt("wait", "--condition", "stopping", "s", timeout=120).stdout == "-1\n"
        assert husk_rt("inspect", "-f", "{{.State.Status}}", "s", check=True).stdout == "stopping\n"
        assert husk_rt("ps", "--format", "{{.State}} {{.Status}}", check=True).stdout == "stopping Stopping\n"
    finally:
        os.kill(pid, signal.SIGKILL)  # the stop then sees the exit (a `kill` would wait for the stop's lock)
        out, err = stopping.communicate(timeout=120)
    assert (stopping.returncode, out, "resorting to SIGKILL" in err) == (0, "s\n", False)
    assert husk_rt("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "s", check=True).stdout == "exited 137\n"
    husk_rt("start", "s", check=True)
    assert husk_rt("inspect", "-f", "{{.State.Status}}", "s", check=True).stdout == "running\n"
    husk_rt("rm", "-f", "-t", "0", "s", check=True)


def test_images_history_shows_the_names_an_image_has_had(husk, busybox_tar):
    """images --history (issue 12 item 3): names newest first, kept when a name moves away."""
    first = husk("import", busybox_tar, "localhost/one:1", check=True).stdout.strip()
    husk("tag", "localhost/one:1", "two:2", check=True)
    husk("untag", "localhost/one:1", "localhost/one:1", check=True)
    table = husk("images", "--history", "--filter", f"id={first}", check=True).stdout.splitlines()
    assert table[0].split()[-1] == "HISTORY"
    assert table[1].endswith("localhost/two:2, localhost/one:1")
    second = husk("import", "--change", "LABEL a=b", busybox_tar, "localhost/two:2", check=True).stdout.strip()
    assert second != first
    shown = husk("images", "--history", "--format", "{{.ID}} {{.History}}", "--no-trunc", check=True).stdout
    assert f"{first} localhost/two:2, localhost/one:1\n" in shown and f"{second} localhost/two:2\n" in shown
    assert husk("image", "inspect", "-f", "{{.NamesHistory}}", first, check=True).stdout == (
        "[localhost/two:2 localhost/one:1]\n")
    documents = json.loads(husk("images", "--history", "--format", "json", check=True).stdout)
    assert {d["Id"]: d["History"] for d in documents}[second] == ["localhost/two:2"]
