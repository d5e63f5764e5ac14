"""`top`: a container's processes, read from its cgroup and /proc.

The processes are those in the cgroup of the container's first process (so
exec sessions show too), and each column is computed from /proc -- no `ps`
binary is needed in the container or on the host.  Columns are podman's
format descriptors (`pid`, `user`, `args`, ...: psgo's names, with container
views: `pid` in the container's pid namespace, `user` from the container's
/etc/passwd, `hpid`/`huser` the host's), and the ps(1) argument forms the
Docker API passes (`-ef`, the default; `aux`; `-o pid,comm`).
"""

from __future__ import annotations

import os
import time
from typing import Callable

from ..define import InvalidArgument, StateInvalid
from ..formats.gofmt import go_duration

#: podman top's columns when no descriptor is given
DEFAULT_DESCRIPTORS = ("user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args")


class Process:
    """One process as /proc shows it, read once (a process may exit meanwhile)."""

    def __init__(self, host_pid: int) -> None:
        base = f"/proc/{host_pid}"
        with open(f"{base}/stat") as handle:
            stat = handle.read()
        with open(f"{base}/status") as handle:
            status = dict(line.split(":", 1) for line in handle.read().splitlines() if ":" in line)
        with open(f"{base}/cmdline", "rb") as handle:
            cmdline = handle.read()
        self.host_pid = host_pid
        self.comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is stat's third field, the state
        self.state = fields[0]
        self.host_ppid, self.host_pgid = int(fields[1]), int(fields[3])
        self.tty_nr = int(fields[4])
        self.cpu_ticks = int(fields[11]) + int(fields[12])
        self.nice = int(fields[16])
        self.start_ticks = int(fields[19])
        self.vsize, self.rss_pages = int(fields[20]), int(fields[21])
        self.real_uid, self.uid = (int(v) for v in status["Uid"].split()[:2])
        self.real_gid, self.gid = (int(v) for v in status["Gid"].split()[:2])
        self.ns_pid = int(status.get("NSpid", str(host_pid)).split()[-1])
        self.args = [part.decode(errors="replace") for part in cmdline.split(b"\0") if part]


class _Clock:
    """What every row shares: now, boot time, clock ticks, names."""

    def __init__(self, rootfs: str) -> None:
        from .users import group_names, user_names

        self.now = time.time()
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
        with open("/proc/stat") as handle:
            self.boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
        self.users, self.groups = user_names(rootfs), group_names(rootfs)
        self.host_users, self.host_groups = user_names("/"), group_names("/")
        self.ns_pids: dict[int, int] = {}

    def started(self, proc: Process) -> float:
        return self.boot + proc.start_ticks / self.ticks

    def elapsed(self, proc: Process) -> float:
        return max(self.now - self.started(proc), 0.0)

    def cpu_seconds(self, proc: Process) -> float:
        return proc.cpu_ticks / self.ticks


def _clock_time(seconds: float) -> str:
    """ps's TIME: [DD-]HH:MM:SS."""
    seconds = int(seconds)
    days, seconds = divmod(seconds, 86400)
    text = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{days}-{text}" if days else text


def _elapsed(seconds: float) -> str:
    """ps's ELAPSED: [[DD-]HH:]MM:SS."""
    seconds = int(seconds)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    text = f"{seconds // 60:02d}:{seconds % 60:02d}"
    if days:
        return f"{days}-{hours:02d}:{text}"
    return f"{hours:02d}:{text}" if hours else text


def _start_time(clock: _Clock, proc: Process) -> str:
    """ps's STIME: HH:MM today, else MonDD."""
    started = time.localtime(clock.started(proc))
    if time.strftime("%Y%m%d", started) == time.strftime("%Y%m%d", time.localtime(clock.now)):
        return time.strftime("%H:%M", started)
    return time.strftime("%b%d", started)


def _tty(proc: Process) -> str:
    if not proc.tty_nr:
        return "?"
    major, minor = (proc.tty_nr >> 8) & 0xFFF, (proc.tty_nr & 0xFF) | ((proc.tty_nr >> 12) & 0xFFF00)
    if 136 <= major <= 143:
        return f"pts/{(major - 136) * 256 + minor}"
    return f"tty{minor}" if major == 4 else f"{major}:{minor}"


def _pcpu(clock: _Clock, proc: Process) -> float:
    elapsed = clock.elapsed(proc)
    return 100.0 * clock.cpu_seconds(proc) / elapsed if elapsed > 0 else 0.0


def _args(proc: Process) -> str:
    return " ".join(proc.args) if proc.args else f"[{proc.comm}]"


Column = Callable[[_Clock, Process], str]

#: podman's (psgo's) format descriptors: name -> (title, value)
DESCRIPTORS: dict[str, tuple[str, Column]] = {
    "args": ("COMMAND", lambda c, p: _args(p)),
    "comm": ("COMMAND", lambda c, p: p.comm),
    "etime": ("ELAPSED", lambda c, p: go_duration(int(c.elapsed(p) * 1e9))),
    "group": ("GROUP", lambda c, p: c.groups.get(p.gid, str(p.gid))),
    "hgroup": ("HGROUP", lambda c, p: c.host_groups.get(p.gid, str(p.gid))),
    "hpid": ("HPID", lambda c, p: str(p.host_pid)),
    "huser": ("HUSER", lambda c, p: c.host_users.get(p.uid, str(p.uid))),
    "nice": ("NI", lambda c, p: str(p.nice)),
    "pcpu": ("%CPU", lambda c, p: f"{_pcpu(c, p):.3f}"),
    "pgid": ("PGID", lambda c, p: str(c.ns_pids.get(p.host_pgid, 0))),
    "pid": ("PID", lambda c, p: str(p.ns_pid)),
    "ppid": ("PPID", lambda c, p: str(c.ns_pids.get(p.host_ppid, 0))),
    "rgroup": ("RGROUP", lambda c, p: c.groups.get(p.real_gid, str(p.real_gid))),
    "rss": ("RSS", lambda c, p: str(p.rss_pages * c.page_kib)),
    "ruser": ("RUSER", lambda c, p: c.users.get(p.real_uid, str(p.real_uid))),
    "state": ("STATE", lambda c, p: p.state),
    "stime": ("STIME", _start_time),
    "time": ("TIME", lambda c, p: go_duration(int(round(c.cpu_seconds(p) * 1e9)))),
    "tty": ("TTY", lambda c, p: _tty(p)),
    "user": ("USER", lambda c, p: c.users.get(p.uid, str(p.uid))),
    "vsz": ("VSZ", lambda c, p: str(p.vsize // 1024)),
}
#: ps(1)'s AIX format codes, which podman top accepts too
_AIX = {"%C": "pcpu", "%G": "group", "%P": "ppid", "%U": "user", "%a": "args", "%c": "comm", "%g": "rgroup",
        "%n": "nice", "%p": "pid", "%r": "pgid", "%t": "etime", "%u": "ruser", "%x": "time", "%y": "tty",
        "%z": "vsz"}

#: `ps -ef`, Docker's default: the host's view (host pids and user names), as docker top shows
_PS_EF: list[tuple[str, Column]] = [
    ("UID", DESCRIPTORS["huser"][1]), ("PID", DESCRIPTORS["hpid"][1]),
    ("PPID", lambda c, p: str(p.host_ppid)), ("C", lambda c, p: str(int(_pcpu(c, p)))),
    ("STIME", _start_time), ("TTY", DESCRIPTORS["tty"][1]), ("TIME", lambda c, p: _clock_time(c.cpu_seconds(p))),
    ("CMD", DESCRIPTORS["args"][1]),
]
#: ps(1)'s `-o` runs on the host (as docker top runs it): host pids and names
_HOST_VIEW: dict[str, tuple[str, Column]] = {
    "pid": ("PID", DESCRIPTORS["hpid"][1]), "ppid": ("PPID", lambda c, p: str(p.host_ppid)),
    "user": ("USER", DESCRIPTORS["huser"][1]), "group": ("GROUP", DESCRIPTORS["hgroup"][1]),
    "etime": ("ELAPSED", lambda c, p: _elapsed(c.elapsed(p))),
    "time": ("TIME", lambda c, p: _clock_time(c.cpu_seconds(p))),
}
#: `ps aux`
_PS_AUX: list[tuple[str, Column]] = [
    ("USER", DESCRIPTORS["huser"][1]), ("PID", DESCRIPTORS["hpid"][1]),
    ("%CPU", lambda c, p: f"{_pcpu(c, p):.1f}"), ("%MEM", lambda c, p: f"{_pmem(c, p):.1f}"),
    ("VSZ", DESCRIPTORS["vsz"][1]), ("RSS", DESCRIPTORS["rss"][1]), ("TTY", DESCRIPTORS["tty"][1]),
    ("STAT", DESCRIPTORS["state"][1]), ("START", _start_time), ("TIME", lambda c, p: _clock_time(c.cpu_seconds(p))[-5:]),
    ("COMMAND", DESCRIPTORS["args"][1]),
]


def _pmem(clock: _Clock, proc: Process) -> float:
    total_kib = os.sysconf("SC_PHYS_PAGES") * clock.page_kib
    return 100.0 * proc.rss_pages * clock.page_kib / total_kib if total_kib else 0.0


def columns(descriptors: list[str] | tuple[str, ...] | None) -> list[tuple[str, Column]]:
    """The columns for `descriptors`: podman's descriptor names (each item may
    hold several, comma- or space-separated), or one ps(1) argument form:
    `-ef` (also `-e`, `-f`, `-A`), `aux`, `-o LIST`.  None or empty: podman's
    default columns."""
    words = [word for item in descriptors or () for word in item.replace(",", " ").split()]
    if not words:
        words = list(DEFAULT_DESCRIPTORS)
    head = words[0]
    if all(len(word) > 1 and word[0] == "-" and set(word[1:]) <= set("efA") for word in words):
        return list(_PS_EF)
    if words == ["aux"]:
        return list(_PS_AUX)
    host_view = head in ("-o", "o")
    if host_view:
        words = words[1:]
        if not words:
            raise InvalidArgument("top: -o needs a list of format descriptors")
    result = []
    for word in words:
        name = _AIX.get(word, word)
        if name not in DESCRIPTORS:
            raise InvalidArgument(f"unknown descriptor: {word} (known: {', '.join(sorted(DESCRIPTORS))}, "
                                  "or ps arguments -ef, aux, -o LIST)")
        result.append(_HOST_VIEW.get(name, DESCRIPTORS[name]) if host_view else DESCRIPTORS[name])
    return result


def cgroup_procs(pid: int) -> list[int]:
    """The pids in the cgroup of process `pid` (v2: the unified hierarchy; v1:
    the pids controller's, which every container joins)."""
    with open(f"/proc/{pid}/cgroup") as handle:
        entries = [line.rstrip("\n").split(":", 2) for line in handle if line.count(":") >= 2]
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        paths = [os.path.join("/sys/fs/cgroup", path.lstrip("/")) for _, controllers, path in entries if not controllers]
    else:
        paths = [os.path.join("/sys/fs/cgroup", "pids", path.lstrip("/"))
                 for _, controllers, path in entries if "pids" in controllers.split(",")]
    for directory in paths:
        try:
            with open(os.path.join(directory, "cgroup.procs")) as handle:
                return sorted(int(line) for line in handle if line.strip())
        except FileNotFoundError:
            continue
    return [pid]  # no readable cgroup (an unusual host): at least the container's process


def processes(pid: int, rootfs: str, descriptors: list[str] | tuple[str, ...] | None) -> tuple[list[str], list[list[str]]]:
    """(titles, rows) for the container whose first process is `pid` (a host
    pid) and whose root filesystem is mounted at `rootfs`."""
    wanted = columns(descriptors)
    try:
        pids = cgroup_procs(pid)
    except (FileNotFoundError, ProcessLookupError):
        raise StateInvalid("can only top running containers") from None
    clock = _Clock(rootfs)
    procs = []
    for host_pid in pids:
        try:
            procs.append(Process(host_pid))
        except (FileNotFoundError, ProcessLookupError, ValueError, KeyError):
            continue  # exited while we read
    clock.ns_pids = {proc.host_pid: proc.ns_pid for proc in procs}
    rows = [[column(clock, proc) for _, column in wanted] for proc in procs]
    return [title for title, _ in wanted], rows
