"""A restore's CLI starts the container's monitor before it looks the
container up (its interpreter's start-up runs beside the lookups, the mount
and the bundle): a restore refused before it gets that far, or one of several
(--all), leaves no monitor but the restored containers' own."""

from husk.testing import find_monitors, wait_until


def test_refused_restores_leave_no_monitor_and_all_restores_each(husk_envs):
    runc = husk_envs("runc")
    for name in ("r1", "r2"):
        runc("run", "-d", "--name", name, "busybox", "sleep", "1000", check=True)
    assert wait_until(lambda: len(find_monitors(runc.runroot)) == 2)
    for args, message in ((["r1"], "is running or paused, cannot restore"), (["nosuch"], "no such container")):
        result = runc("container", "restore", *args)
        assert result.returncode == 125 and message in result.stderr, result.stderr
    assert wait_until(lambda: len(find_monitors(runc.runroot)) == 2), "a refused restore left its monitor"
    for name in ("r1", "r2"):
        runc("container", "checkpoint", name, check=True)
    assert wait_until(lambda: find_monitors(runc.runroot) == [])
    restored = runc("container", "restore", "--all", check=True)
    assert sorted(restored.stdout.split()) == sorted(
        runc("inspect", "--format", "{{.Id}}", "r1", "r2", check=True).stdout.split())
    assert wait_until(lambda: len(find_monitors(runc.runroot)) == 2)
    for name in ("r1", "r2"):
        assert runc("exec", name, "true").returncode == 0
