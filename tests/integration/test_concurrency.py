"""Several CLIs on one container, and many creates at once: no corruption, clear losers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def _parallel(husk, commands):
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda args: husk(*args, timeout=120), commands))


def test_twenty_parallel_creates_with_distinct_names(husk):
    results = _parallel(husk, [("create", "--name", f"n{i}", "busybox", "true") for i in range(20)])
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    names = husk("ps", "-a", "--format", "{{.Names}}", check=True).stdout.split()
    assert sorted(names) == sorted(f"n{i}" for i in range(20))


def test_twenty_parallel_creates_with_one_name(husk):
    results = _parallel(husk, [("create", "--name", "same", "busybox", "true") for _ in range(20)])
    winners = [r for r in results if r.returncode == 0]
    losers = [r for r in results if r.returncode != 0]
    assert len(winners) == 1
    assert all(r.returncode == 125 and "already in use" in r.stderr and r.stderr.count("\n") == 1
               for r in losers)
    assert husk("ps", "-aq", "--no-trunc").stdout.strip() == winners[0].stdout.strip()


def test_stop_and_start_race_on_one_container(husk_rt):
    husk_rt("run", "-d", "--name", "r", "busybox", "sleep", "1000", check=True)
    commands = [("stop", "-t", "0", "r"), ("start", "r")] * 4
    results = _parallel(husk_rt, commands)
    for result in results:
        assert "Traceback" not in result.stderr
        assert result.returncode == 0 or result.stderr.startswith("Error: "), result.stderr
    state = husk_rt("inspect", "--format", "{{.State.Status}}", "r", check=True).stdout.strip()
    assert state in ("running", "exited")
    # and the container still works normally
    husk_rt("stop", "-t", "0", "r")
    husk_rt("start", "r", check=True)
    assert husk_rt("inspect", "--format", "{{.State.Status}}", "r", check=True).stdout.strip() == "running"


def test_two_removals_one_clear_loser(husk):
    husk("run", "-d", "--name", "gone", "busybox", "sleep", "1000", check=True)
    results = _parallel(husk, [("rm", "-f", "-t", "0", "gone"), ("rm", "-t", "0", "gone")])
    codes = sorted(r.returncode for r in results)
    assert codes[0] == 0
    loser = [r for r in results if r.returncode != 0]
    # The forced removal may win before or after the plain one looks: either way one line.
    assert len(loser) <= 1
    for result in loser:
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert husk("ps", "-aq").stdout == ""


def test_stop_all_runs_through_the_worker_pool(husk):
    for i in range(4):
        husk("run", "-d", "--name", f"p{i}", "--stop-timeout", "2", "busybox", "sleep", "1000", check=True)
    result = husk("stop", "--all", check=True)
    assert sorted(result.stdout.split()) == sorted(husk("ps", "-aq", "--no-trunc").stdout.split())
    assert husk("ps", "-q").stdout == ""
    # Each stop waits 2 s before SIGKILL (sleep ignores SIGTERM as pid 1).  In series
    # the stop events would be >= 6 s apart; the worker pool overlaps them.
    times = [int(t) for t in husk("events", "--stream=false", "--filter", "event=stop",
                                  "--format", "{{.TimeNano}}", check=True).stdout.split()]
    assert len(times) == 4
    assert (max(times) - min(times)) / 1e9 < 4
