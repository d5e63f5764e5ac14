"""The record of podman's run/create flags that shape the OCI spec beyond the
basics (issue 12): rlimits, devices, sysctls, namespaces, the init process,
the time zone, and the files husk writes for the user (pid files).

Kept in one struct on :class:`husk.state.records.ContainerConfig` so that a
new flag is one field here and one step in :mod:`husk.engine.run_options`.

No ``from __future__ import annotations`` here: msgspec reads these
annotations to build each decoder, and as strings it compiles and evaluates
every one, about 1 ms of each process that reads a record (issue 20).
"""

import msgspec


class Device(msgspec.Struct, omit_defaults=True):
    """`--device HOST[:CONTAINER][:PERMISSIONS]`."""

    host: str
    container: str
    permissions: str = "rwm"


class RunOptions(msgspec.Struct, omit_defaults=True):
    ulimits: dict[str, list[int]] = {}   # RLIMIT_NOFILE -> [soft, hard]
    devices: list[Device] = []
    sysctls: dict[str, str] = {}
    shm_size: int = 0                    # bytes; 0: podman's 64m
    init: bool = False
    init_path: str = ""
    tz: str = ""                         # "local" or a zoneinfo name
    unsetenv: list[str] = []
    unsetenv_all: bool = False
    group_add: list[str] = []
    umask: int = -1                      # -1: 0022
    oom_score_adj: int | None = None
    namespaces: dict[str, str] = {}      # pid/ipc/uts/cgroup -> host, private, container:ID, ns:PATH
    cgroup_parent: str = ""
    read_only_tmpfs: bool = True
    pidfile: str = ""
    conmon_pidfile: str = ""
    personality: str = ""                # LINUX or LINUX32
    #: an OCI linux.resources fragment (--cpu-period, --blkio-weight, --device-read-bps, ...), merged into the spec's
    resources: dict = {}
    hooks_dirs: list[str] = []           # --hooks-dir of the command that created it
    env_merge: list[str] = []            # NAME=VALUE with ${NAME} from the environment before it
    log_driver: str = ""                 # --log-driver (recorded as the container's log_driver)
    log_path: str = ""                   # --log-opt path= (k8s-file)
    log_max_size: int = 0                # --log-opt max-size= (bytes; 0: the config's)
    log_tag: str = ""                    # --log-opt tag=
    timeout: int = 0                     # --timeout: seconds it may run, then it is killed; 0: no limit
    passwd: bool = True                  # --passwd: an /etc/passwd entry for a --user the image lacks
    passwd_entry: str = ""               # --passwd-entry: its template ($USERNAME $UID $GID $NAME $HOME)
    hostuser: list[str] = []             # --hostuser: host users' entries added to /etc/passwd
    preserve_fds: int = 0                # run --preserve-fds: the caller's fds 3.. passed on at the first start
    attach: list[str] = []               # --attach: the streams run and start -a attach (none: all)
    chrootdirs: list[str] = []           # --chrootdirs: directories that get /etc/hosts and resolv.conf too
    systemd: str = "true"                # --systemd: true (for a systemd/init command), always, false
    sdnotify: str = "conmon"             # --sdnotify: conmon (the monitor says READY), container, ignore
    cgroups: str = "enabled"             # --cgroups: enabled, no-conmon, disabled (crun only)
    uid_mappings: list[list[int]] = []   # --userns/--uidmap/--subuidname: [container, host, size]; []: the host's
    gid_mappings: list[list[int]] = []   # --gidmap/--subgidname (or the uid mappings)
    userns: str = ""                     # --userns as given: "", host, auto[:size=N], keep-id, nomap
