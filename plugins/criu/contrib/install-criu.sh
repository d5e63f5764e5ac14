#!/bin/bash
# Make `criu check` pass on this host, for husk-criu (checkpoint/restore).
#
# Installs Debian's criu; where that one fails its check (Debian 12's criu
# 3.17 on recent kernels: "Unexpected rt vDSO area bounds" / "Failed to fill
# self vdso symtable"), builds CRIU 4.1.1 from Debian's source tarball, fetched
# through apt's configured mirror, and installs it to /usr/local (ahead of
# /usr/sbin in PATH, so runc finds it). Debian no longer lists 4.1.1's .dsc,
# so the tarball is checked against a pinned sha256 instead.
#
# Idempotent: does nothing when `criu check` already passes. Quiet unless a
# step fails; then it prints that step's output and exits non-zero.
set -euo pipefail

version=4.1.1
tarball="criu_${version}.orig.tar.xz"
sha256=f80a66cb3726bb2116266d4759ce3bcbfab7abdb6b6d430bf20dd41911717afe
# What `make criu` needs on bookworm (found by building with less): protoc-c and
# protobuf-c for the image format, descriptor.proto from libprotobuf-dev,
# libnl/libcap/libnet for the core. libbsd, gnutls and nftables are optional.
build_packages=(gcc make pkg-config libc6-dev libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler
                libnl-3-dev libcap-dev libnet1-dev xz-utils)

# die, quietly, apt_install: husk's shared set-up helpers
# shellcheck source=../../../contrib/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../../contrib/lib.sh"

criu_works() { command -v criu >/dev/null && criu check >/dev/null 2>&1; }

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
    apt_install "${build_packages[@]}"
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
    quietly make -C "$work/criu-$version" -j"$(nproc)" criu
    quietly make -C "$work/criu-$version" install-criu PREFIX=/usr/local
    hash -r
}

[ "$(id -u)" -eq 0 ] || die "run as root"
criu_works && exit 0
command -v criu >/dev/null || apt_install criu
criu_works && exit 0
build_from_source
criu_works || die "criu $version installed to /usr/local but \`criu check\` still fails: $(criu check 2>&1 | tail -n 1)"
