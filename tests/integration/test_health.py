"""Health checks (issue 21): real containers whose checks the monitor runs,
`healthcheck run`, inspect's State.Health, ps, `wait --condition healthy`,
--health-on-failure, and the docker SDK's view.

Checks run every second here; every expectation is polled with a generous
deadline (the machine may be loaded), never timed."""

from __future__ import annotations

import json
import time

import docker
import pytest

from husk.testing import IMAGE, runs, wait_until

DEADLINE = 90.0


def _inspect(husk, name: str) -> dict:
    return json.loads(husk("inspect", name, check=True).stdout)[0]


def _until(what, condition, deadline: float = DEADLINE):
    """Poll `what()` until `condition(value)` holds; the last value otherwise fails."""
    end = time.monotonic() + deadline
    while True:
        value = what()
        if condition(value):
            return value
        assert time.monotonic() < end, f"condition never held; last value: {value}"
        time.sleep(0.3)


def test_a_check_turns_healthy_then_unhealthy(husk_rt):
    name = "hc-turns"
    husk_rt("run", "-d", "--name", name, "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s",
            "--health-retries", "2", IMAGE, "sh", "-c", "touch /tmp/ok; exec sleep 600", check=True)
    waited = husk_rt("wait", "--condition", "healthy", name, timeout=DEADLINE)
    assert (waited.returncode, waited.stdout) == (0, "-1\n"), waited.stderr
    document = _inspect(husk_rt, name)
    assert document["State"]["Health"]["Status"] == "healthy"
    assert document["State"]["Health"]["Log"][-1]["ExitCode"] == 0
    assert document["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "test -f /tmp/ok"],
                                                 "Interval": 1_000_000_000, "Timeout": 30_000_000_000,
                                                 "Retries": 2}
    assert document["Config"]["HealthcheckOnFailureAction"] == "none"
    assert husk_rt("ps", "--filter", "health=healthy", "--format", "{{.Names}}").stdout.split() == [name]
    assert "(healthy)" in husk_rt("ps", "--format", "{{.Status}}").stdout
    run = husk_rt("healthcheck", "run", name)
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")
    # the monitor that runs the checks stays as small as test_monitor_memory wants monitors
    with open(f"/proc/{document['State']['ConmonPid']}/smaps_rollup") as rollup:
        pss = next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
    assert pss <= 8 * 1024

    husk_rt("exec", name, "rm", "/tmp/ok", check=True)
    run = husk_rt("healthcheck", "run", name)
    assert (run.returncode, run.stdout) == (1, "unhealthy\n")
    health = _until(lambda: _inspect(husk_rt, name)["State"]["Health"], lambda h: h["Status"] == "unhealthy")
    assert health["FailingStreak"] >= 2
    assert 1 <= len(health["Log"]) <= 5 and health["Log"][-1]["ExitCode"] == 1
    assert husk_rt("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}").stdout.split() == [name]
    assert husk_rt("ps", "--filter", "health=healthy", "-q").stdout == ""
    statuses = {event["attributes"]["health_status"] for event in husk_rt.events("health_status")}
    assert {"healthy", "unhealthy"} <= statuses


def test_checks_resume_after_a_refresh(husk):
    """refresh (as after a reboot) brings the container back under a new monitor, which runs the checks."""
    husk("run", "-d", "--name", "hc-refresh", "--health-cmd", "true", "--health-interval", "1s", IMAGE,
         "sleep", "600", check=True)
    before = _until(lambda: _inspect(husk, "hc-refresh"), lambda d: d["State"]["Health"]["Status"] == "healthy")
    husk("container", "refresh", "hc-refresh", check=True)
    after = _until(lambda: _inspect(husk, "hc-refresh"), lambda d: d["State"]["Health"]["Status"] == "healthy")
    assert after["State"]["ConmonPid"] != before["State"]["ConmonPid"]  # (the start reset the health to starting)
    # podman's old name in templates (a method of its struct; the JSON has only Health)
    assert husk("inspect", "--format", "{{.State.Healthcheck.Status}}", "hc-refresh").stdout == "healthy\n"



def test_checks_resume_after_a_reboot(husk_rt):
    """After a reboot (no processes, no mounts, an empty run root: test_crash's simulation)
    the first command refreshes every container; starting the container brings its checks
    back under its new monitor."""
    from test_crash import _reboot  # the same directory (rootdir imports)

    name = "hc-reboot"
    husk_rt("run", "-d", "--name", name, "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", IMAGE,
            "sh", "-c", "touch /tmp/ok; exec sleep 600", check=True)
    before = _until(lambda: _inspect(husk_rt, name), lambda d: d["State"]["Health"]["Status"] == "healthy")
    _reboot(husk_rt)
    result = husk_rt("ps", "-a", "--format", "{{.Names}} {{.State}}")
    assert (result.returncode, result.stdout) == (0, f"{name} created\n"), result.stderr
    run = husk_rt("healthcheck", "run", name)  # not running: podman's refusal, no check
    assert run.returncode == 125 and "is not running" in run.stderr, run
    husk_rt("start", name, check=True)
    after = _until(lambda: _inspect(husk_rt, name),
                   lambda d: d["State"]["Health"]["Status"] == "healthy"
                   and d["State"]["Health"]["Log"][-1] != before["State"]["Health"]["Log"][-1])
    assert after["State"]["ConmonPid"] not in (0, before["State"]["ConmonPid"])
    husk_rt("exec", name, "rm", "/tmp/ok", check=True)  # the resumed checks see the change
    _until(lambda: _inspect(husk_rt, name)["State"]["Health"]["Status"], lambda status: status == "unhealthy")


def test_a_hung_check_is_killed_at_its_timeout(husk):
    husk("run", "-d", "--name", "hc-hang", "--health-cmd", "sleep 600", "--health-timeout", "1s",
         "--health-interval", "disable", IMAGE, "sleep", "600", check=True)
    run = husk("healthcheck", "run", "hc-hang", timeout=DEADLINE)
    assert (run.returncode, run.stdout) == (1, "unhealthy\n"), run.stderr
    entry = _inspect(husk, "hc-hang")["State"]["Health"]["Log"][-1]
    assert entry["ExitCode"] == -1
    assert entry["Output"] == "healthcheck command exceeded timeout of 1s"
    pid = _inspect(husk, "hc-hang")["State"]["Pid"]
    assert wait_until(lambda: runs(pid, "sleep"), timeout=DEADLINE)  # start returns before init execs sleep
    top = husk("top", "hc-hang", "args").stdout
    assert "sleep 600" in top and top.count("sleep 600") == 1  # the container's own, not the check's


def test_on_failure_restart_restarts_the_container(husk_rt):
    husk_rt("run", "-d", "--name", "hc-restart", "--health-cmd", "test -f /nothing", "--health-interval", "1s",
            "--health-retries", "1", "--health-on-failure", "restart", IMAGE, "sleep", "600", check=True)
    first = _inspect(husk_rt, "hc-restart")["State"]["StartedAt"]
    document = _until(lambda: _inspect(husk_rt, "hc-restart"),
                      lambda d: d["RestartCount"] >= 2 and d["State"]["Running"])  # checks resume after a restart
    assert document["State"]["StartedAt"] != first
    assert husk_rt.events("restart")


def test_start_period_and_on_failure_stop(husk):
    """Failures in the start period are logged, not counted; stop and kill act on unhealthy."""
    for name, period, action in (("hc-period", "600s", "stop"), ("hc-stop", "0s", "stop"),
                                 ("hc-kill", "0s", "kill")):
        husk("run", "-d", "--name", name, "--health-cmd", "false", "--health-interval", "1s", "--health-retries",
             "1", "--health-start-period", period, "--health-on-failure", action, IMAGE, "sleep", "600", check=True)
    health = _until(lambda: _inspect(husk, "hc-period")["State"]["Health"], lambda h: len(h["Log"] or []) >= 2)
    assert (health["Status"], health["FailingStreak"]) == ("starting", 0)
    assert "(starting)" in husk("ps", "--filter", "name=hc-period", "--format", "{{.Status}}").stdout
    for name in ("hc-stop", "hc-kill"):
        document = _until(lambda: _inspect(husk, name), lambda d: not d["State"]["Running"])
        assert (document["State"]["Health"]["Status"], document["State"]["Health"]["FailingStreak"]) == (
            "unhealthy", 1)
    assert _inspect(husk, "hc-kill")["State"]["ExitCode"] == 137


def test_healthcheck_run_refusals_and_bad_flags(husk):
    husk("create", "--name", "hc-none", IMAGE, "sleep", "600", check=True)
    husk("create", "--name", "hc-created", "--health-cmd", "true", IMAGE, "sleep", "600", check=True)
    none = husk("run", "-d", "--name", "hc-plain", IMAGE, "sleep", "600", check=True).stdout.strip()
    result = husk("healthcheck", "run", "hc-plain")
    assert (result.returncode, result.stderr) == (125, f"Error: container {none} has no defined healthcheck\n")
    created = _inspect(husk, "hc-created")["Id"]
    result = husk("healthcheck", "run", "hc-created")
    assert (result.returncode, result.stderr) == (125, f"Error: container {created} is not running\n")
    result = husk("healthcheck", "run", "hc-missing")
    assert result.returncode == 125 and "unable to look up hc-missing to perform a health check" in result.stderr
    assert "(" not in husk("ps", "--format", "{{.Status}}").stdout
    assert husk("ps", "-a", "--filter", "health=none", "--format", "{{.Names}}").stdout.split() == [
        "hc-plain", "hc-none"]
    assert _inspect(husk, "hc-none")["State"]["Health"] == {"Status": "", "FailingStreak": 0, "Log": None}
    for flags, message in ((["--health-cmd", "true", "--health-retries", "0"], "healthcheck-retries must be"),
                           (["--health-cmd", "true", "--health-on-failure", "reboot"], "invalid on-failure action"),
                           (["--health-cmd", "true", "--no-healthcheck"], "cannot specify both"),
                           (["--health-cmd", "true", "--health-timeout", "10ms"], "at least 1 second"),
                           (["--health-cmd", "true", "--health-interval", "soon"], "invalid healthcheck-interval")):
        result = husk("create", *flags, IMAGE)
        assert result.returncode == 125 and message in result.stderr and "Traceback" not in result.stderr
    result = husk("wait", "--condition", "unknown", "hc-none")
    assert result.returncode == 125 and "not supported" in result.stderr
    assert husk("ps", "-a", "-q").stdout.count("\n") == 3  # nothing created by the refusals


def test_the_docker_sdk_sees_state_health(api_crun):
    client = docker.DockerClient(base_url=f"unix://{api_crun.socket_path}", timeout=120)
    container = client.containers.run(IMAGE, ["sleep", "600"], detach=True, name="hc-sdk", healthcheck={
        "test": ["CMD-SHELL", "true"], "interval": 1_000_000_000, "retries": 2})
    try:
        def attrs():
            container.reload()
            return container.attrs

        document = _until(attrs, lambda d: d["State"].get("Health", {}).get("Status") == "healthy")
        assert document["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
        assert document["State"]["Health"]["Log"][-1]["ExitCode"] == 0
        assert "(healthy)" in client.api.containers(filters={"name": "hc-sdk"})[0]["Status"]
        plain = client.containers.create(IMAGE, ["true"], name="hc-sdk-plain")
        assert "Health" not in plain.attrs["State"]
        actions = {event["Action"] for event in client.events(
            since=int(time.time()) - 600, until=int(time.time()) + 1, decode=True, filters={"container": "hc-sdk"})}
        assert {"health_status: healthy", "exec_die"} <= actions  # each check is an exec session
    finally:
        container.remove(force=True)
        client.close()


@pytest.mark.parametrize("route", ["/v1.41/containers/hc-api/wait?condition=healthy",
                                   "/v4.3.1/libpod/containers/hc-api/wait?condition=healthy"])
def test_the_wait_routes_take_healthy(api_crun, route):
    api_crun.env("run", "-d", "--name", "hc-api", "--health-cmd", "true", "--health-interval", "1s", IMAGE,
                 "sleep", "600", check=True)
    status, _, document = api_crun.request("POST", route)
    assert status == 200, document
    assert document == -1 or document["StatusCode"] == -1


def test_the_libpod_create_body_takes_healthconfig(api_crun):
    status, _, created = api_crun.request("POST", "/v4.3.1/libpod/containers/create", {
        "image": IMAGE, "command": ["sleep", "600"], "healthconfig": {"Test": ["CMD", "true"], "Retries": 4}})
    assert status == 201, created
    status, _, document = api_crun.request("GET", f"/v4.3.1/libpod/containers/{created['Id']}/json")
    assert document["Config"]["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 30_000_000_000,
                                                 "Timeout": 30_000_000_000, "Retries": 4}
    status, _, refused = api_crun.request("POST", "/v4.3.1/libpod/containers/create", {
        "image": IMAGE, "healthconfig": {"Test": ["SOMETIMES", "true"]}})
    assert status >= 400 and "unknown Test type" in refused["message"]


def test_the_images_healthcheck_applies_unless_overridden(husk, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {IMAGE}\nHEALTHCHECK --interval=1s --retries=2 CMD test -e /etc/passwd\n")
    husk("build", "-q", "-t", "localhost/hc-image:latest", str(tmp_path), check=True, timeout=120)
    husk("run", "-d", "--name", "hc-image", "localhost/hc-image:latest", "sleep", "600", check=True)
    husk("create", "--name", "hc-off", "--no-healthcheck", "localhost/hc-image:latest", check=True)
    husk("create", "--name", "hc-over", "--health-timeout", "5s", "localhost/hc-image:latest", check=True)
    assert _inspect(husk, "hc-over")["Config"]["Healthcheck"] == {
        "Test": ["CMD-SHELL", "test -e /etc/passwd"], "Interval": 1_000_000_000, "Timeout": 5_000_000_000,
        "Retries": 2}
    assert "Healthcheck" not in _inspect(husk, "hc-off")["Config"]
    assert husk("inspect", "--format", "{{.Config.Healthcheck}}", "hc-off").stdout == "<nil>\n"
    assert husk("wait", "--condition", "healthy", "hc-image", timeout=DEADLINE).stdout == "-1\n"


def test_a_detached_exec_emits_exec_died_when_it_ends(husk_rt):
    """Nobody waits for `exec -d`: its monitor's exit command forgets the session and emits exec_died."""
    husk_rt("run", "-d", "--name", "hc-exec", IMAGE, "sleep", "600", check=True)
    session = husk_rt("exec", "-d", "hc-exec", "sh", "-c", "exit 3", check=True).stdout.strip()
    died = _until(lambda: [e for e in husk_rt.events("exec_died") if e["attributes"].get("execID") == session],
                  lambda found: found)
    assert died[0]["attributes"]["containerExitCode"] == "3"
    assert _until(lambda: _inspect(husk_rt, "hc-exec")["ExecIDs"], lambda ids: ids == []) == []
