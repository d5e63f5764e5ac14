"""The CLI's start-up budget, as module lists rather than times (issue 20).

Python's start-up is most of what a short husk command costs, and a heavy
import that creeps into a common path is easy to miss in a timing on a busy
machine.  So each verb here is run in a fresh interpreter that writes
``sys.modules`` when it exits, and the test fails when a module that verb must
not need was imported: the API service's aiohttp, importlib.metadata (the
entry-point scan, `--version`), the worker pool on single-container verbs,
pluggy, the plugins and logging on read-only verbs, msgspec's parts husk never
runs (husk.cli.lean_imports), the spec generator and the pods module (tarfile)
on the listing verbs, create's 150 options on the verbs sharing its module, and
every plugin but the container's runtime's on pause and unpause, and the
stdlib's inspect (click's) on read-only verbs.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from husk.testing import IMAGE

#: written to the file named by argv[1] at exit: every module the command imported and ran
#: (a module importlib.util.LazyLoader defers, husk.cli.lean_imports, counts once its code ran:
#: type(), not isinstance, which would read its __class__ and so run it)
RECORDER = """
import atexit, os, sys
out = sys.argv.pop(1)
pid = os.getpid()
def write():
    if os.getpid() != pid:  # a forked child exiting through Python runs this too, with its parent's old modules
        return
    with open(out, "w") as handle:
        handle.write("\\n".join(sorted(name for name, module in list(sys.modules.items())
                                        if type(module).__name__ != "_LazyModule")))
atexit.register(write)
sys.argv[0] = "husk"
from husk.cli import main
main()
"""

#: nowhere in the CLI's single-container paths (the API service, the worker pool, netlink)
LIFECYCLE = ("aiohttp", "multiprocess", "dill", "pyroute2", "yarl", "multidict")
#: nor in a read-only verb: the entry-point scan (`--version` used to pay for it), and
#: what msgspec imports but husk never runs (husk.cli.lean_imports): typing_extensions (3 ms),
#: msgspec.inspect, its MessagePack, TOML and YAML modules, the schema generator's textwrap,
#: and the real decimal and uuid (msgspec._core's Decimal and UUID support, click's UUID type:
#: ~0.7 and ~1.5 ms; they get stand-ins, which stay in sys.modules, so their C parts are what
#: is checked; uuid's platform, which `version` uses, in test_read_verbs_skip_locale_and_platform).
MSGSPEC_UNUSED = ("typing_extensions", "msgspec.inspect", "msgspec.msgpack", "msgspec.toml", "msgspec.yaml",
                  "textwrap", "_decimal", "_uuid")
EVERYWHERE = LIFECYCLE + ("importlib.metadata",) + MSGSPEC_UNUSED
#: read-only verbs do not load plugins (they read records, never call a runtime's hooks),
#: nor logging (set up at the first warning: husk.define.logger), nor the stdlib's inspect and
#: what it imports (~3-4 ms: click's modules have a stand-in, husk.cli.lean_imports; pluggy loads it)
PLUGINS = ("pluggy", "husk_runc", "husk_crun", "husk_criu", "husk.hooks", "husk.engine.plugins", "logging",
           "inspect", "ast", "dis", "tokenize")
#: nor what only creating and starting need: the spec generator, pods (tarfile), create's
#: options (husk.cli.run_flags), the image store's writers, the attach client (husk.cli.attach:
#: run's and start's options come from husk.cli.common)
READING = ("husk.engine.spec", "husk.engine.pods", "tarfile", "husk.cli.run_flags", "husk.storage.pull",
           "husk.cli.attach")
#: every plugin shipped with husk: pause and unpause load only their runtime's
SHIPPED_PLUGINS = ("husk_runc", "husk_crun", "husk_criu", "husk_netavark", "husk_runsc", "husk_shimv2")

READ_ONLY = [
    ["--version"],
    ["version"],
    ["ps"],
    ["ps", "-a"],
    ["ps", "-a", "--format", "{{.Names}}"],
    ["inspect", "budget"],
    ["container", "inspect", "budget"],
    ["container", "exists", "budget"],
    ["images"],
    ["logs", "budget"],
]
SINGLE = [
    ["run", "--rm", "--network", "none", IMAGE, "true"],
    ["start", "budget"],
    ["stop", "-t", "0", "budget"],
    ["rm", "-f", "budget"],
]


def modules_after(husk, tmp_path, args: list[str]) -> set[str]:
    out = tmp_path / "modules"
    result = subprocess.run([sys.executable, "-c", RECORDER, str(out), *husk.global_args, *args],
                            capture_output=True, text=True, env=husk.env(), timeout=60)
    assert result.returncode == 0, result.stderr
    return set(out.read_text().split())


def heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules for name in names if m == name or m.startswith(name + "."))


@pytest.fixture
def budget(husk, tmp_path):
    """A created container, made by the recorder's interpreter: the entry-point
    scan is cached per sys.path (husk.engine.plugins._cache_file), and `python -c`
    has another sys.path than the husk script, so on a fresh machine the first
    plugin-loading command started this way scans (importlib.metadata, email,
    socket); that first run is this one, not a measured one.  The caches are the
    test's own: the user's keeps only the newest files of each kind, so a file
    found warm there may be pruned (another test writing new ones) before a
    measured run, which would then scan."""
    husk.extra_env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    modules_after(husk, tmp_path, ["create", "--name", "budget", "--network", "none", IMAGE, "true"])
    return husk


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_read_only_verbs_stay_light(budget, tmp_path, args):
    modules = modules_after(budget, tmp_path, args)
    assert heavy(modules, EVERYWHERE + PLUGINS) == []
    if args[0] != "container":  # a group loads every module of its group (run_flags with create)
        assert heavy(modules, READING) == []


def test_ps_and_create_skip_what_they_do_not_use(budget, tmp_path):
    """`ps -a -q` reaches click with its flags' long names (click's failed try of
    a short flag as a long one imports difflib), prints no JSON (json) and
    signals nothing (signal: its enums were 1% of a ps -a);
    create without -p or --pod needs no socket, not the pod verbs, no
    dataclasses and not the spec generator (issue 20)."""
    assert heavy(modules_after(budget, tmp_path, ["ps", "-a", "-q"]), ("difflib", "json", "signal")) == []
    modules = modules_after(budget, tmp_path, ["create", "--network", "none", IMAGE, "true"])
    assert heavy(modules, ("socket", "husk.cli.pod", "dataclasses", "husk.engine.spec")) == []


def test_read_verbs_skip_locale_and_platform(budget, tmp_path):
    """click asks gettext for its --help and --version options' text each time
    it builds one, and gettext's first lookup imports locale (its alias tables,
    2% of a ps -a): the root group's and the read verbs' options are husk's own
    (husk.cli.common.LeanHelp), so these never translate; and the real uuid,
    which imports platform (4% of a ps -a), is not loaded (husk.cli.lean_imports)
    (issue 20)."""
    for args in (["--version"], ["ps", "-a"], ["ps", "-a", "-q"], ["inspect", "budget"],
                 ["container", "inspect", "budget"]):
        assert heavy(modules_after(budget, tmp_path, args), ("locale", "platform")) == [], args


def test_ps_and_inspect_skip_the_container_verbs(budget, tmp_path):
    """ps and inspect have their module (husk.cli.reading): they do not build
    the options of start, stop, rm, wait and the others (husk.cli.container);
    a ps without --filter does not import the filters (issue 20)."""
    for args in (["ps", "-a"], ["inspect", "budget"]):
        modules = modules_after(budget, tmp_path, args)
        assert heavy(modules, ("husk.cli.container", "husk.presentation.filters")) == [], args
    assert "husk.presentation.filters" in modules_after(budget, tmp_path, ["ps", "-a", "--filter", "name=budget"])


#: prints the CLI process's garbage collection threshold as the command exits
GC_THRESHOLD = """
import atexit, gc, sys
atexit.register(lambda: print("threshold:", gc.get_threshold()[0], file=sys.stderr))
sys.argv[0] = "husk"
from husk.cli import main
main()
"""


def test_read_verbs_collect_garbage_in_large_batches(budget):
    """The CLI's collector waits for 50,000 net allocations (husk.cli): the ~50
    collections of a ps -a of 200 walked the imports' objects for nothing (7%
    of it).  (The threshold, not a count of collections: compiling a source
    without its cached bytecode allocates enough to collect.)"""
    for args in (["ps", "-a"], ["inspect", "budget"]):
        result = subprocess.run([sys.executable, "-c", GC_THRESHOLD, *budget.global_args, *args],
                                capture_output=True, text=True, env=budget.env(), timeout=60)
        assert result.returncode == 0 and "threshold: 50000\n" in result.stderr, (args, result.stderr)


def test_single_container_verbs_need_no_pool_and_no_api(budget, tmp_path):
    for args in SINGLE:
        modules = modules_after(budget, tmp_path, args)
        assert heavy(modules, LIFECYCLE) == [], args


def test_run_without_importlib_metadata(budget, tmp_path):
    """The entry-point scan is cached (husk.engine.plugins): once the cache is
    warm, as after any earlier lifecycle command, `run` never imports
    importlib.metadata (pluggy imports it only for its own version)."""
    budget.extra_env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # this test's own cache
    modules_after(budget, tmp_path, SINGLE[0])  # warms the cache for this interpreter's sys.path
    assert heavy(modules_after(budget, tmp_path, SINGLE[0]), ("importlib.metadata",)) == []


def test_run_skips_the_parsers_of_flags_it_is_not_given(budget, tmp_path):
    """run without -v, --tmpfs, -p or --preserve-fds imports neither those
    flags' parsers (husk.presentation.mounts and the volume names,
    husk.network.ports) nor the exec sessions' module for its fd check, nor
    dataclasses (the monitor's config is a msgspec Struct) (issue 20)."""
    modules = modules_after(budget, tmp_path, SINGLE[0])
    assert heavy(modules, ("husk.engine.exec_session", "husk.presentation.mounts", "husk.network.ports",
                           "husk.volumes", "dataclasses")) == []


def test_pause_and_unpause_load_only_their_runtime_s_plugin(budget, tmp_path):
    """Once a full load has left its hint (husk.engine.plugins.hinted_runtime),
    pause and unpause import the plugin of the container's runtime and no
    other, and neither the spec generator nor the network modules."""
    budget.extra_env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # this test's own cache and hint
    modules_after(budget, tmp_path, ["run", "-d", "--name", "paused", "--network", "none", IMAGE, "sleep", "300"])
    own = "husk_" + budget.runtime_name
    for verb in ("pause", "unpause"):
        modules = modules_after(budget, tmp_path, [verb, "paused"])
        assert own in modules, verb
        assert heavy(modules, tuple(p for p in SHIPPED_PLUGINS if p != own)) == [], verb
        assert heavy(modules, LIFECYCLE + ("husk.engine.spec", "husk.network", "importlib.metadata")) == [], verb


def test_exec_stop_start_and_run_load_only_their_runtime_s_plugin(budget, tmp_path):
    """Once a full load has noted that no plugin implements the exec, stop,
    cleanup, pre_init and start hooks (husk.engine.plugins.unimplemented), exec,
    stop, start and run without a network or volume import the container's
    runtime's plugin and no other."""
    budget.extra_env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # this test's own cache and note
    modules_after(budget, tmp_path, ["run", "-d", "--name", "quick", "--network", "none", IMAGE, "sleep", "300"])
    own = "husk_" + budget.runtime_name
    for args in (["exec", "quick", "true"], ["stop", "-t", "0", "quick"], ["start", "quick"], SINGLE[0]):
        modules = modules_after(budget, tmp_path, args)
        assert own in modules, args
        assert heavy(modules, tuple(p for p in SHIPPED_PLUGINS if p != own)) == [], args


def test_checkpoint_and_restore_load_only_the_criu_plugin_and_their_runtime_s(husk_envs, tmp_path):
    """Once a full load has noted which plugin implements the checkpoint and
    restore hooks (husk.engine.plugins.implementers), checkpoint and restore
    import that plugin (criu) and the container's runtime's, and no other."""
    runc = husk_envs("runc")
    runc.extra_env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # this test's own cache and note
    runc("run", "-d", "--name", "dumped", "--network", "none", IMAGE, "sleep", "300", check=True)
    modules_after(runc, tmp_path, ["container", "checkpoint", "dumped"])  # a full load: the note
    modules_after(runc, tmp_path, ["container", "restore", "dumped"])
    for verb in ("checkpoint", "restore"):
        modules = modules_after(runc, tmp_path, ["container", verb, "dumped"])
        assert {"husk_criu", "husk_runc"} <= modules, verb
        assert heavy(modules, tuple(p for p in SHIPPED_PLUGINS if p not in ("husk_runc", "husk_criu"))) == [], verb
        assert heavy(modules, LIFECYCLE + ("importlib.metadata", "husk.storage.images")) == [], verb
        # shutil loads bz2 and lzma (~1.3 ms): the plugins find criu without it and remove a tree with it
        # only when there is one; CRIU's stats file is read (husk_criu.stats) only for --print-stats
        assert heavy(modules, ("shutil", "husk_criu.stats")) == [], verb
        if verb == "checkpoint":  # it runs its commands without subprocess (~1.5 ms of its import), and
            # reads runc's state.json with msgspec (json's import: ~1 ms)
            assert heavy(modules, ("subprocess", "json")) == [], verb


def test_run_start_exec_pause_skip_socket_and_the_mount_code(budget, tmp_path):
    """run, start and exec attach through the C module _socket (socket.py builds
    its enums at import, ~1.2 ms); pause and unpause import no mount code
    (husk.storage.rootfs) while no export's mount marker is left (issue 20)."""
    modules_after(budget, tmp_path, ["run", "-d", "--name", "lean", "--network", "none", IMAGE, "sleep", "300"])
    for args in (["exec", "lean", "true"], ["stop", "-t", "0", "lean"], ["start", "lean"], SINGLE[0]):
        assert heavy(modules_after(budget, tmp_path, args), ("socket",)) == [], args
    for verb in ("pause", "unpause"):
        assert heavy(modules_after(budget, tmp_path, [verb, "lean"]), ("socket", "husk.storage.rootfs")) == [], verb


def test_pause_unpause_stop_start_and_restart_skip_shutil_and_the_container_verbs(budget, tmp_path):
    """shutil imports bz2 and lzma (~1.5 ms): a runtime command finds its binary
    without it (husk.engine.oci_runtime.which), and a stop's cleanup imports it
    only to remove a secrets directory that is there.  pause, unpause and
    restart register husk.cli.ops alone, not husk.cli.container (issue 20)."""
    modules_after(budget, tmp_path, ["run", "-d", "--name", "plain", "--network", "none", IMAGE, "sleep", "300"])
    for args in (["pause", "plain"], ["unpause", "plain"], ["restart", "-t", "0", "plain"], ["stop", "-t", "0", "plain"],
                 ["start", "plain"]):
        modules = modules_after(budget, tmp_path, args)
        assert heavy(modules, ("shutil",)) == [], args
        if args[0] != "stop" and args[0] != "start":
            assert heavy(modules, ("husk.cli.container",)) == [], args


#: writes the modules imported when the first monitor is spawned to the file named by argv[1]
BEFORE_MONITOR = """
import os, sys
out = sys.argv.pop(1)
def hook(event, args):
    if event in ("subprocess.Popen", "os.posix_spawn") and "monitor.main()" in " ".join(map(str, args[1])):
        if not os.path.exists(out):
            with open(out, "w") as handle:
                handle.write("\\n".join(sorted(sys.modules)))
sys.addaudithook(hook)
sys.argv[0] = "husk"
from husk.cli import main
main()
"""


def test_exec_starts_its_monitor_before_the_state_and_the_runtime_imports(budget, tmp_path):
    """`husk exec` starts its session's monitor first thing (husk.engine.exec_session.ExecLaunch),
    so the monitor interpreter's start-up overlaps what follows: nothing of the state store,
    the runtime or the process file is imported before it (each import there would delay
    the monitor, and so the command, by its whole cost)."""
    modules_after(budget, tmp_path, ["run", "-d", "--name", "early", "--network", "none", IMAGE, "sleep", "300"])
    out = tmp_path / "before-monitor"
    result = subprocess.run([sys.executable, "-c", BEFORE_MONITOR, str(out), *budget.global_args,
                             "exec", "early", "true"], capture_output=True, text=True, env=budget.env(), timeout=60)
    assert result.returncode == 0, result.stderr
    modules = set(out.read_text().split())
    assert "husk.engine.exec_session" in modules
    assert heavy(modules, ("husk.engine.runtime", "husk.engine.container", "husk.engine.oci_runtime", "husk.state",
                           "lmdb", "msgspec", "json", "shutil", "pluggy")) == []


def test_ps_and_inspect_of_a_running_container_skip_json_and_seccomp(budget, tmp_path):
    """A running container's ps row asks husk.engine.health for its status only
    (json is for parsing a check, at create), and inspect prints its security
    options without the seccomp profile code, and without ps's filters; its JSON
    is msgspec's (loaded for the records), not the json module's; neither
    imports the signal module (its enums, ~2.7M instructions: the stop signal's
    number and health's SIGKILL come from _signal) (issue 20)."""
    modules_after(budget, tmp_path, ["run", "-d", "--name", "up", "--network", "none", IMAGE, "sleep", "300"])
    assert heavy(modules_after(budget, tmp_path, ["ps", "-a"]), ("json", "husk.engine.seccomp", "signal")) == []
    modules = modules_after(budget, tmp_path, ["inspect", "--format", "{{.State.Status}}", "up"])
    assert heavy(modules, ("husk.engine.seccomp", "husk.presentation.filters", "signal") + MSGSPEC_UNUSED) == []
    assert heavy(modules_after(budget, tmp_path, ["inspect", "up"]), ("json", "husk.engine.seccomp", "signal")) == []


def test_create_and_run_without_a_network_skip_shutil_and_the_leases(budget, tmp_path):
    """create --network none imports no shutil (bz2 and lzma: only a --tz copy
    and rm's tree removal use it) and no locale (its --help is LeanHelp's, see
    test_read_verbs_skip_locale), and run --rm --network none not the leases
    (husk.network.ipam and its ipaddress: only a bridge container holds one)
    (issue 20).  ipaddress itself is not asserted: an editable install's
    finder loads it at every start (urllib.parse); the user's install does not."""
    modules = modules_after(budget, tmp_path, ["create", "--network", "none", IMAGE, "true"])
    assert heavy(modules, ("shutil", "locale", "husk.network.ipam")) == [], "create"
    assert heavy(modules_after(budget, tmp_path, SINGLE[0]), ("husk.network.ipam",)) == [], "run"
