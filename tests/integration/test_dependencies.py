"""`--requires`: dependencies started first, refused when not running, protected from rm."""

from __future__ import annotations

import pytest

from husk.define import NoSuchContainer, State, StateInvalid


def _status(husk, name):
    return husk("inspect", "--format", "{{.State.Status}}", name, check=True).stdout.strip()


def test_start_starts_dependencies_in_order(husk_rt):
    husk_rt("create", "--name", "db", "busybox", "sleep", "1000", check=True)
    husk_rt("create", "--name", "cache", "--requires", "db", "busybox", "sleep", "1000", check=True)
    husk_rt("create", "--name", "app", "--requires", "cache,db", "busybox", "sleep", "1000", check=True)
    assert husk_rt("start", "app", check=True).stdout == "app\n"
    assert [_status(husk_rt, n) for n in ("db", "cache", "app")] == ["running"] * 3
    events = husk_rt("events", "--stream=false", "--filter", "event=start", "--format", "{{.Name}}",
                     check=True).stdout.split()
    assert events == ["db", "cache", "app"]


def test_run_detached_starts_dependencies(husk):
    husk("create", "--name", "db", "busybox", "sleep", "1000", check=True)
    husk("run", "-d", "--name", "app", "--requires", "db", "busybox", "sleep", "1000", check=True)
    assert _status(husk, "db") == "running"


def test_run_attached_starts_dependencies(husk):
    husk("create", "--name", "db", "busybox", "sleep", "1000", check=True)
    result = husk("run", "--rm", "--requires", "db", "busybox", "echo", "hi")
    assert (result.returncode, result.stdout) == (0, "hi\n")
    assert _status(husk, "db") == "running"


def test_requires_an_existing_container(husk):
    result = husk("create", "--requires", "nope", "busybox", "true")
    assert result.returncode == 125
    assert result.stderr == ('Error: error looking up dependency container nope: no container with name or ID '
                             '"nope" found: no such container\n')
    assert husk("ps", "-aq").stdout == ""


def test_init_and_api_start_need_running_dependencies(husk_rt):
    db = husk_rt("create", "--name", "db", "busybox", "sleep", "1000", check=True).stdout.strip()
    husk_rt("create", "--name", "app", "--requires", "db", "busybox", "sleep", "1000", check=True)
    result = husk_rt("init", "app")
    assert result.returncode == 125
    assert result.stderr == f"Error: container {_id(husk_rt, 'app')} depends on container {db} not being in running state\n"
    runtime = husk_rt.runtime()
    app = runtime.container("app")
    with pytest.raises(StateInvalid, match="not being in running state"):
        app.start()
    assert runtime.container("app").state.state is State.CONFIGURED
    app.start(recursive=True)
    assert runtime.container("db").state.state is State.RUNNING
    assert runtime.container("app").state.state is State.RUNNING


def _id(husk, name):
    return husk("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()


def test_rm_of_a_dependency_is_refused_unless_forced(husk):
    husk("create", "--name", "db", "busybox", "true", check=True)
    husk("create", "--name", "app", "--requires", "db", "busybox", "true", check=True)
    result = husk("rm", "db")
    assert result.returncode == 125
    assert result.stderr == (f"Error: container {_id(husk, 'db')} has dependent containers which must be removed "
                             "before it: app\n")
    assert husk("container", "exists", "db").returncode == 0
    husk("rm", "app", check=True)  # the dependent first, then the dependency may go
    husk("rm", "db", check=True)
    assert husk("ps", "-aq").stdout == ""


def test_rm_force_removes_a_dependency_and_start_then_says_it_is_gone(husk):
    db = husk("create", "--name", "db", "busybox", "true", check=True).stdout.strip()
    husk("create", "--name", "app", "--requires", "db", "busybox", "true", check=True)
    husk("rm", "-f", "db", check=True)
    result = husk("start", "app")
    assert result.returncode == 125
    assert result.stderr.endswith(f"depends on container {db}, which does not exist\n")


def test_a_dependency_cycle_is_refused_at_start(husk):
    """Create cannot make a cycle (a dependency exists before its dependent);
    a record that has one anyway is refused at start, not deadlocked on."""
    runtime = husk.runtime()
    a = runtime.create_container("busybox", ["sleep", "1000"], name="a")
    b = runtime.create_container("busybox", ["sleep", "1000"], name="b", dependencies=["a"])
    config = runtime.store.container_config(a.id)
    config.dependencies = [b.id]

    def rewrite(txn):
        import msgspec

        txn.put(a.id.encode(), msgspec.json.encode(config), db=runtime.store.db["configs"])
    runtime.store._write(rewrite)
    result = husk("start", "b")
    assert result.returncode == 125
    assert result.stderr == f"Error: dependency cycle between containers: {b.id[:12]} -> {a.id[:12]} -> {b.id[:12]}\n"
    assert _status(husk, "a") == _status(husk, "b") == "created"


def test_api_create_with_a_missing_dependency(husk):
    runtime = husk.runtime()
    with pytest.raises(NoSuchContainer):
        runtime.create_container("busybox", ["true"], dependencies=["missing"])
