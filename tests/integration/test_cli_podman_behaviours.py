"""podman's behaviours that scripts rely on (issue 12 item 4), on runc and crun."""

from __future__ import annotations


def test_stop_warns_when_it_must_kill(husk_rt):
    husk_rt("run", "-d", "--network", "none", "--name", "stubborn", "busybox", "sh", "-c",
            "trap '' TERM; while true; do sleep 0.1; done", check=True)
    result = husk_rt("stop", "-t", "1", "stubborn")
    assert result.returncode == 0 and result.stdout == "stubborn\n"
    assert "StopSignal SIGTERM failed to stop container stubborn in 1 seconds, resorting to SIGKILL" in result.stderr
    assert result.stderr.startswith("WARN[")
    assert husk_rt("inspect", "-f", "{{.State.ExitCode}}", "stubborn").stdout.strip() == "137"
    husk_rt("start", "stubborn", check=True)
    assert husk_rt("--log-level", "error", "stop", "-t", "1", "stubborn").stderr == ""  # below the level


def test_kill_signal_numbers_and_names(husk_rt):
    for bad, message in (("0", "invalid signal: 0"), ("65", "valid signals are 1 through 64"),
                         ("-65", "valid signals are 1 through 64"), ("SIGFOO", "invalid signal: SIGFOO")):
        result = husk_rt("kill", f"--signal={bad}", "whatever")
        assert result.returncode == 125 and result.stderr == f"Error: {message}\n", (bad, result.stderr)
    for signal_text, code in (("-15", 143), ("usr1", 138), ("SIGHUP", 129), ("9", 137)):
        husk_rt("run", "-d", "--init", "--network", "none", "--name", "k", "busybox", "sleep", "100", check=True)
        husk_rt("kill", "-s", signal_text, "k", check=True)
        assert husk_rt("wait", "k").stdout.strip() == str(code), signal_text
        husk_rt("rm", "k", check=True)


def test_run_it_without_a_terminal_warns_and_runs(husk_rt):
    result = husk_rt("run", "--rm", "-it", "--network", "none", "busybox", "echo", "ran", input="")
    assert result.returncode == 0 and "ran" in result.stdout
    assert "The input device is not a TTY. The --tty and --interactive flags might not work properly" in result.stderr


def test_start_leaves_a_running_container_be_and_refuses_a_paused_one(husk_rt):
    """podman 4.3: `start` of a running container prints nothing and exits 0 (so
    `start` is safe to repeat); of a paused one it is an error."""
    cid = husk_rt("run", "-d", "busybox", "sleep", "1000", check=True).stdout.strip()
    again = husk_rt("start", cid)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    husk_rt("pause", cid, check=True)
    paused = husk_rt("start", cid)
    assert (paused.returncode, paused.stderr) == (
        125, f"Error: container {cid} must be in Created or Stopped state to be started: "
             "container state improper\n")
    husk_rt("rm", "-f", "-t", "0", cid, check=True)


def test_image_inspect_id(husk):
    image_id = husk("images", "-q", "--no-trunc", "busybox").stdout.strip().removeprefix("sha256:")
    assert husk("image", "inspect", "--format", "{{.ID}}", "busybox").stdout.strip().removeprefix("sha256:") == \
        image_id


def test_the_events_log_rotates_and_keeps_the_rotation_event(husk, tmp_path):
    config = tmp_path / "husk.conf"
    config.write_text("[engine]\nevents_logfile_max_size = 2000\n")
    husk.extra_env["HUSK_CONFIG"] = str(config)
    for index in range(8):  # create and remove: about 300 bytes each
        husk("create", "--name", f"r{index}", "--network", "none", "busybox", "true", check=True)
        husk("rm", f"r{index}", check=True)
    log = f"{husk.runroot}/events/events.log"
    assert 0 < len(open(log + ".1").read()) and len(open(log).read()) < 2000
    shown = husk("events", "--stream=false", "--filter", "type=system", "--format", "{{.Type}} {{.Status}} {{.Name}}",
                 check=True).stdout.splitlines()
    assert shown and set(shown) == {f"system log-rotation {log}"}
