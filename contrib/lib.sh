# Shell helpers shared by husk's host set-up scripts (contrib/setup.sh and the
# plugins' contrib/install-*.sh). Source it; the caller sets `set -euo pipefail`.
# Messages name the script that failed: $0 is the sourcing script.

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# Run a command with its output kept aside; show the output's end only if it
# fails, then stop the script.
quietly() {
    local log rc=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -n 40 "$log" >&2
        rm -f "$log"
        die "failed (exit $rc): $*"
    fi
    rm -f "$log"
}

# apt-get install the packages not installed yet; nothing (not even an update)
# when all are.
apt_install() {
    local missing=() package
    for package in "$@"; do
        [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" = "install ok installed" ] \
            || missing+=("$package")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    export DEBIAN_FRONTEND=noninteractive
    quietly apt-get update
    quietly apt-get install -y --no-install-recommends "${missing[@]}"
}
