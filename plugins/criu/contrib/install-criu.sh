#!/bin/bash
# Make `criu check` pass on this host, for husk-criu (checkpoint/restore).
#
# contrib/setup.sh has installed Debian's criu (plugins/criu/contrib/packages.txt).
# Where that one fails its check (Debian 12's criu 3.17 on recent kernels:
# "Unexpected rt vDSO area bounds" / "Failed to fill self vdso symtable"), this
# builds CRIU 4.1.1 from Debian's source tarball, fetched through apt's
# configured mirror, and installs it to /usr/local (ahead of /usr/sbin in PATH,
# so runc finds it). Debian no longer lists 4.1.1's .dsc, so the tarball is
# checked against a pinned sha256 instead.
#
# The network lock: while it dumps, CRIU keeps the container's network quiet
# with firewall rules. Built without libnftables, CRIU runs iptables-restore
# for that, and every dump fails where iptables is missing ("Locking network
# failed"). Debian's criu (12 and 13) links libnftables1 and depends on no
# iptables, so this build does the same (libnftables-dev, and nftables as the
# default lock): a missing library then fails `criu check` at set-up time, not
# the first checkpoint. A criu built earlier without nftables is rebuilt.
#
# Idempotent: does nothing when `criu check` already passes with nftables.
# Prints one line per step that does work; a failing step prints its output.
set -euo pipefail

version=4.1.1
tarball="criu_${version}.orig.tar.xz"
sha256=f80a66cb3726bb2116266d4759ce3bcbfab7abdb6b6d430bf20dd41911717afe
here=$(dirname "${BASH_SOURCE[0]}")

# die, step, quietly, read_packages, apt_install: husk's shared set-up helpers
# shellcheck source=../../../contrib/lib.sh
. "$here/../../../contrib/lib.sh"

# `criu check` passes, and not with the warning of a build without libnftables.
criu_works() {
    local out
    command -v criu >/dev/null && out=$(criu check 2>&1) && [[ $out != *"without libnftables"* ]]
}

# The Debian archive URIs apt is configured with (deb822 .sources and one-line lists).
mirrors() {
    {
        sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n'
        grep -hE '^[[:space:]]*deb(-src)?[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
    } | grep -v -- '-security' | grep -E '^https?://' | sed 's:/*$::' | awk '!seen[$0]++'
}

fetch() {  # URL DEST
    if command -v curl >/dev/null; then
        curl -fsSL --retry 2 -o "$2" "$1"
    else
        python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$1" "$2"
    fi
}

build_from_source() {
    local work mirror got=""
    mapfile -t build_packages < <(read_packages "$here/build-packages.txt")
    apt_install "${build_packages[@]}"
    step "building CRIU $version from Debian's source (about 30 s)"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    for mirror in $(mirrors); do
        if fetch "$mirror/pool/main/c/criu/$tarball" "$work/$tarball" 2>/dev/null; then
            got=$mirror
            break
        fi
    done
    [ -n "$got" ] || die "no configured apt mirror has pool/main/c/criu/$tarball (tried: $(mirrors | tr '\n' ' '))"
    echo "$sha256  $work/$tarball" | sha256sum -c --quiet - >/dev/null 2>&1 \
        || die "$got/pool/main/c/criu/$tarball: sha256 mismatch"
    quietly tar -C "$work" -xJf "$work/$tarball"
    quietly make -C "$work/criu-$version" -j"$(nproc)" criu NETWORK_LOCK_DEFAULT=NETWORK_LOCK_NFTABLES
    quietly make -C "$work/criu-$version" install-criu PREFIX=/usr/local NETWORK_LOCK_DEFAULT=NETWORK_LOCK_NFTABLES
    hash -r
}

[ "$(id -u)" -eq 0 ] || die "run as root"
criu_works && exit 0
build_from_source
criu_works || die "criu $version installed to /usr/local but \`criu check\` fails or warns: $(criu check 2>&1 | tail -n 1)"
