# Shell helpers shared by husk's host set-up scripts (contrib/setup.sh,
# contrib/test-setup.sh and the plugins' contrib/install-*.sh). Source it; the
# caller sets `set -euo pipefail`. Messages name the script that failed: $0 is
# the sourcing script.

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# One short line per step that does work, so a long set-up says where it is.
step() { echo "husk setup: $*"; }

# Run a command with its output kept aside. If it fails, show the output's
# end and where the whole of it is kept, then stop the script.
quietly() {
    local log rc=0
    log=$(mktemp /tmp/husk-setup.XXXXXX.log)
    "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -n 40 "$log" >&2
        die "failed (exit $rc): $* (full output: $log)"
    fi
    rm -f "$log"
}

# The package names in list files: one a line, `#` starts a comment.
read_packages() { sed 's/#.*//' "$@" | tr -s ' \t' '\n' | sed '/^$/d'; }

# apt-get install the packages not installed yet, saying which; nothing (not
# even an update) when all are.
apt_install() {
    local missing=() package
    for package in "$@"; do
        [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" = "install ok installed" ] \
            || missing+=("$package")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    step "installing host packages (${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    quietly apt-get update
    quietly apt-get install -y --no-install-recommends "${missing[@]}"
}
