#!/bin/bash
# Set up a Debian 12/13 host, as root, to run husk from this checkout: host
# packages (contrib/packages.txt and each plugin's), host quirks, each plugin's
# host step, a venv at <repo>/.venv-user with husk and every plugin installed
# (a regular install, refreshed when the sources change), /usr/local/bin/husk,
# the default image, and a smoke test of every runtime plugin.
#
# The venv is made from Debian's /usr/bin/python3, whatever python3 is first
# on PATH: that is the interpreter a Debian user has. A regular install keeps
# setuptools' editable finder off husk's start-up (it cost 16 of 33 ms);
# contrib/test.sh makes the editable .venv that development and tests use.
#
# Safe to run any number of times: each step checks first and does nothing
# when already done, so a re-run takes a few seconds (mostly the smoke test).
# Prints one line per step that does work; a failing step prints its output
# and exits non-zero. HUSK_SETUP_NO_LINK=1 leaves /usr/local/bin/husk alone
# (for a second checkout on a host whose `husk` is another one's).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$repo/.venv-user"
python=/usr/bin/python3
husk="$venv/bin/husk"

# shellcheck source=lib.sh
. "$repo/contrib/lib.sh"

[ "$(id -u)" -eq 0 ] || die "run as root (husk runs containers as root)"

# `setup.sh --rootless USER`: only let USER run rootless husk (after a full
# set-up): the rootless packages (in packages.txt), and 65536 subordinate uids
# and gids in /etc/subuid and /etc/subgid unless USER has some in both, from
# the first free id above every range listed (at least 100000). A lock keeps
# two of these from picking the same range.
give_subordinate_ids() {
    local user=$1 uid start end
    uid=$(id -u "$user" 2>/dev/null) || die "no such user: $user"
    apt_install uidmap slirp4netns passt catatonit
    exec 9>/run/lock/husk-subids.lock
    flock 9
    if grep -qE "^($user|$uid):" /etc/subuid 2>/dev/null && grep -qE "^($user|$uid):" /etc/subgid 2>/dev/null; then
        return 0
    fi
    read -r start end < <(cat /etc/subuid /etc/subgid 2>/dev/null | awk -F: '
        NF == 3 && $2 + $3 > top { top = $2 + $3 }
        END { if (top < 100000) top = 100000; printf "%.0f %.0f\n", top, top + 65535 }')
    step "giving $user subordinate ids $start-$end (/etc/subuid, /etc/subgid)"
    quietly usermod --add-subuids "$start-$end" --add-subgids "$start-$end" "$user"
}
if [ "${1:-}" = --rootless ]; then
    [ $# -eq 2 ] || die "usage: $0 --rootless USER"
    give_subordinate_ids "$2"
    exit 0
fi

# Host quirks:
# - cgroups in hybrid mode (a tmpfs at /sys/fs/cgroup with v1 hierarchies and
#   a v2 one at unified/): crun refuses to run while any controller is on the
#   v2 side ("cgroups in hybrid mode not supported, drop all controllers from
#   cgroupv2"); on some kernels hugetlb is. Mounting a v1 hierarchy for each
#   such controller moves it off v2. The mount does not survive a reboot;
#   re-run this script after one.
# - A hard RLIMIT_NOFILE below what runtimes ask for (20000 on some hosts):
#   husk clamps the containers' rlimits itself, so nothing to do here.
fix_host_quirks() {
    [ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ] || return 0
    local controllers=/sys/fs/cgroup/unified/cgroup.controllers controller
    [ -r "$controllers" ] || return 0
    for controller in $(cat "$controllers"); do
        step "moving the $controller cgroup controller off cgroup v2 (hybrid mode)"
        mkdir -p "/sys/fs/cgroup/$controller"
        quietly mount -t cgroup -o "$controller" cgroup "/sys/fs/cgroup/$controller"
    done
}

# What the installed copy was built from: the packaging files and every
# source file of husk and its plugins, so an edit is picked up by a re-run.
source_digest() {
    (cd "$repo" && find setup.cfg pyproject.toml core hooks plugins \
        -name '*.egg-info' -prune -o -name __pycache__ -prune -o -name contrib -prune -o \
        -type f \( -name '*.py' -o -name '*.cfg' -o -name '*.toml' -o -name '*.json' \) -print \
        | LC_ALL=C sort | xargs sha256sum | sha256sum)
}

# A regular (non-editable) install of husk and every plugin distribution.
install_venv() {
    local stamp="$venv/.husk-setup-stamp" wanted plugin dists=("$repo")
    for plugin in "$repo"/plugins/*/; do
        [ -f "$plugin/setup.cfg" ] || [ -f "$plugin/pyproject.toml" ] || continue
        dists+=("${plugin%/}")
    done
    wanted=$(source_digest)
    if [ -x "$venv/bin/python" ] && [ -x "$husk" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
        return 0
    fi
    if [ ! -x "$venv/bin/python" ] || [ "$(readlink -f "$venv/bin/python")" != "$(readlink -f "$python")" ]; then
        step "creating .venv-user from $python"
        rm -rf "$venv"
        quietly "$python" -m venv "$venv"
        # wheel lets pip build the local distributions without an isolated build env each time
        quietly "$venv/bin/python" -m pip install --disable-pip-version-check wheel
    fi
    step "installing husk and its plugins into .venv-user (${#dists[@]} distributions)"
    # A regular install: pip builds and copies the local distributions (they
    # are always reinstalled), compiles their bytecode, and leaves no finder.
    quietly "$venv/bin/python" -m pip install --disable-pip-version-check --no-build-isolation "${dists[@]}"
    rm -rf "$repo"/build "$repo"/plugins/*/build
    printf '%s\n' "$wanted" >"$stamp"
}

link_cli() {
    [ "${HUSK_SETUP_NO_LINK:-}" = 1 ] && return 0
    [ "$(readlink /usr/local/bin/husk 2>/dev/null)" = "$husk" ] && return 0
    step "linking /usr/local/bin/husk"
    ln -sfn "$husk" /usr/local/bin/husk
}

build_default_image() {
    local rc=0
    "$husk" image exists localhost/busybox:latest >/dev/null 2>&1 || rc=$?
    case "$rc" in
        0) ;;
        1) step "building the default image localhost/busybox:latest"
           quietly "$venv/bin/python" "$repo/contrib/build-busybox-image.py" ;;
        *) "$husk" image exists localhost/busybox:latest || true
           die "husk image exists failed (exit $rc)" ;;
    esac
}

# A real container on each runtime plugin, and a checkpoint plus restore on
# runc when husk-criu is loaded: about two seconds (ten more after a boot,
# when runsc's platform is probed once). A failure names the
# plugin, what failed, and the line of the log to read.
smoke_test() {
    local loaded report=() name="husk-setup-smoke-$$" out log
    loaded=$("$husk" info --format '{{range $name, $v := .Plugins.Loaded}}{{$name}} {{end}}') \
        || die "smoke test: husk info failed"
    for runtime in crun runc; do
        [[ " $loaded " == *" $runtime "* ]] || die "smoke test: plugin husk-$runtime is not loaded (husk info)"
        out=$("$husk" --runtime "$runtime" run --rm busybox true 2>&1) \
            || die "smoke test: husk-$runtime: \`husk --runtime $runtime run --rm busybox true\` failed: $(tail -n 1 <<<"$out")"
        report+=("$runtime ok")
    done
    if [[ " $loaded " == *" shimv2 "* ]]; then
        out=$("$husk" --runtime io.containerd.runc.v2 run --rm busybox true 2>&1) \
            || die "smoke test: husk-shimv2: \`husk --runtime io.containerd.runc.v2 run --rm busybox true\` failed: $(tail -n 1 <<<"$out")"
        report+=("io.containerd.runc.v2 ok")
    fi
    if [[ " $loaded " == *" runsc "* ]]; then
        out=$("$husk" --runtime runsc run --rm busybox true 2>&1) \
            || die "smoke test: husk-runsc: \`husk --runtime runsc run --rm busybox true\` failed: $(tail -n 1 <<<"$out")"
        report+=("runsc ok")
    fi
    if [[ " $loaded " == *" criu "* ]]; then
        "$husk" --runtime runc run -d --name "$name" busybox sleep 60 >/dev/null 2>&1 \
            || die "smoke test: husk-runc: \`husk --runtime runc run -d\` failed"
        if ! out=$("$husk" container checkpoint "$name" 2>&1 && "$husk" container restore "$name" 2>&1); then
            log=$(grep -o "[^ ]*/[a-z]*\.log" <<<"$out" | tail -n 1 || true)
            if [ -n "$log" ] && [ -f "$log" ]; then
                cp "$log" "/tmp/husk-setup-smoke-$(basename "$log")"
                log="/tmp/husk-setup-smoke-$(basename "$log")"
            fi
            "$husk" rm -f "$name" >/dev/null 2>&1 || true
            die "smoke test: husk-criu: checkpoint/restore on runc failed: $(tail -n 1 <<<"$out")${log:+ | $log: $(grep -E 'Error|error' "$log" | grep -vE '(Dumping|Restoring) FAILED' | tail -n 1)}"
        fi
        "$husk" rm -f "$name" >/dev/null 2>&1 || true
        report+=("checkpoint ok")
    fi
    local IFS=,
    step "smoke test:${report[*]/#/ }"
}

# husk-shimv2 needs containerd's shims, never its daemon: a shim already on the
# host (Docker's containerd.io ships one) is used as it is, and a containerd
# daemon that installing the package enabled or started is disabled and stopped.
systemd_state() { [ -d /run/systemd/system ] && systemctl "$1" containerd.service 2>/dev/null || true; }
shim_host_state() { echo "$(systemd_state is-active) $(systemd_state is-enabled)"; }
containerd_before=$(shim_host_state)

mapfile -t packages < <(read_packages "$repo/contrib/packages.txt" "$repo"/plugins/*/contrib/packages.txt)
if command -v containerd-shim-runc-v2 >/dev/null \
        && [ "$(dpkg-query -W -f='${Status}' containerd 2>/dev/null)" != "install ok installed" ]; then
    mapfile -t packages < <(printf '%s\n' "${packages[@]}" | grep -vx containerd)
fi
apt_install "${packages[@]}"
if [ "$(shim_host_state)" != "$containerd_before" ] && [ "$containerd_before" != "active enabled" ]; then
    step "stopping and disabling the containerd daemon the containerd package started (husk runs its shims alone)"
    [ "${containerd_before%% *}" = active ] || quietly systemctl stop containerd.service
    [ "${containerd_before##* }" = enabled ] || quietly systemctl disable containerd.service
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$python is $("$python" -V 2>&1); husk needs Python >= 3.11"
fix_host_quirks
# Plugins' host steps (husk-criu: a criu that passes `criu check`); each is idempotent.
for script in "$repo"/plugins/*/contrib/install-*.sh; do if [ -f "$script" ]; then bash "$script"; fi; done
install_venv
link_cli
build_default_image
smoke_test
