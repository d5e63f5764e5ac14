#!/bin/bash
# Set up a Debian 12/13 host, as root, to run husk from this checkout:
# host packages, host quirks, a venv at <repo>/.venv with husk and every plugin
# installed editable, /usr/local/bin/husk, and the default image.
#
# Safe to run any number of times: each step checks first and does nothing
# when already done, so a re-run takes about a second. Quiet unless a step
# fails; then it prints that step's output and exits non-zero.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$repo/.venv"
# nftables joins this list when husk's network setup needs it.
packages=(runc crun busybox-static iproute2)

# shellcheck source=lib.sh
. "$repo/contrib/lib.sh"

[ "$(id -u)" -eq 0 ] || die "run as root (husk runs containers as root)"

# Debian ships venv's pip bootstrap (ensurepip) separately, in python3-venv.
if ! command -v python3 >/dev/null; then
    packages+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    packages+=(python3-venv)
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
        mkdir -p "/sys/fs/cgroup/$controller"
        quietly mount -t cgroup -o "$controller" cgroup "/sys/fs/cgroup/$controller"
    done
}

# The stamp records which packaging files the venv was installed from, so a
# re-run skips pip unless a setup.cfg changed or a plugin was added.
install_venv() {
    local stamp="$venv/.husk-setup-stamp" wanted plugin
    local editables=(-e "$repo[test]")
    for plugin in "$repo"/plugins/*/; do
        [ -f "$plugin/setup.cfg" ] || [ -f "$plugin/pyproject.toml" ] || continue
        editables+=(-e "${plugin%/}")
    done
    wanted=$(cd "$repo" && sha256sum setup.cfg pyproject.toml plugins/*/setup.cfg plugins/*/pyproject.toml 2>/dev/null)
    if [ -x "$venv/bin/python" ] && [ -x "$venv/bin/husk" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
        return 0
    fi
    [ -x "$venv/bin/python" ] || quietly "$python" -m venv "$venv"
    quietly "$venv/bin/python" -m pip install --disable-pip-version-check "${editables[@]}"
    printf '%s\n' "$wanted" >"$stamp"
}

# Editable installs leave husk's modules uncompiled, and PYTHONDONTWRITEBYTECODE
# (set on some hosts) keeps Python from caching them: every command would
# compile from source, which costs more than the rest of its start-up.
# compileall skips what is already up to date.
compile_bytecode() {
    quietly "$venv/bin/python" -m compileall -q "$repo/core" "$repo/hooks" "$repo/plugins"
}

link_cli() {
    [ "$(readlink /usr/local/bin/husk 2>/dev/null)" = "$venv/bin/husk" ] && return 0
    ln -sfn "$venv/bin/husk" /usr/local/bin/husk
}

build_default_image() {
    local rc=0
    "$venv/bin/husk" image exists localhost/busybox:latest >/dev/null 2>&1 || rc=$?
    case "$rc" in
        0) ;;
        1) quietly "$venv/bin/python" "$repo/contrib/build-busybox-image.py" ;;
        *) "$venv/bin/husk" image exists localhost/busybox:latest || true
           die "husk image exists failed (exit $rc)" ;;
    esac
}

apt_install "${packages[@]}"
python=$(command -v python3)
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$python is $("$python" -V 2>&1); husk needs Python >= 3.11"
fix_host_quirks
# Plugins' host steps (husk-criu: a criu that passes `criu check`); each is idempotent and quiet.
for step in "$repo"/plugins/*/contrib/install-*.sh; do if [ -f "$step" ]; then bash "$step"; fi; done
install_venv
compile_bytecode
link_cli
build_default_image
