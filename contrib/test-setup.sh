#!/bin/bash
# Set a host up for husk's tests, as root, after contrib/setup.sh (which
# contrib/test.sh runs first): the test-only host packages of
# contrib/test-packages.txt, and <repo>/.venv, where husk and its plugins are
# installed editable (edits to core/ take effect at once) with the test extras.
#
# Nothing here belongs to the user's set-up: CI's fresh-root check runs
# contrib/setup.sh without this script, so a package that husk needs at run
# time cannot hide here. Idempotent; one line per step that does work.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$repo/.venv"
python=/usr/bin/python3

# shellcheck source=lib.sh
. "$repo/contrib/lib.sh"

[ "$(id -u)" -eq 0 ] || die "run as root (the tests run containers as root)"

# Installing docker.io for its CLI must not start its daemon: policy-rc.d
# (honoured by invoke-rc.d and deb-systemd-invoke) refuses service starts for
# the length of the install, unless the host already has a policy of its own.
install_test_packages() {
    local packages policy=/usr/sbin/policy-rc.d
    mapfile -t packages < <(read_packages "$repo/contrib/test-packages.txt")
    if [ ! -e "$policy" ]; then
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
    fi
    apt_install "${packages[@]}"
}

# The stamp records which packaging files the venv was installed from, so a
# re-run skips pip unless a setup.cfg changed or a plugin was added.
install_venv() {
    local stamp="$venv/.husk-setup-stamp" wanted plugin editables=(-e "$repo[test]")
    for plugin in "$repo"/plugins/*/; do
        [ -f "$plugin/setup.cfg" ] || [ -f "$plugin/pyproject.toml" ] || continue
        editables+=(-e "${plugin%/}")
    done
    wanted=$(cd "$repo" && sha256sum setup.cfg pyproject.toml plugins/*/setup.cfg plugins/*/pyproject.toml 2>/dev/null)
    if [ -x "$venv/bin/pytest" ] && [ "$(readlink -f "$venv/bin/python")" = "$(readlink -f "$python")" ] \
        && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
        return 0
    fi
    # The tests run on the interpreter users get: a .venv made from another
    # python (pyenv's, say) is made again.
    if [ ! -x "$venv/bin/python" ] || [ "$(readlink -f "$venv/bin/python")" != "$(readlink -f "$python")" ]; then
        step "creating .venv (editable, with the test tools) from $python"
        rm -rf "$venv"
        quietly "$python" -m venv "$venv"
    fi
    step "installing husk and its plugins editable into .venv"
    quietly "$venv/bin/python" -m pip install --disable-pip-version-check "${editables[@]}"
    printf '%s\n' "$wanted" >"$stamp"
}

install_test_packages
install_venv
# Editable installs leave husk's modules uncompiled, and PYTHONDONTWRITEBYTECODE
# (set on some hosts) keeps Python from caching them: every command would
# compile from source. compileall skips what is already up to date.
quietly "$venv/bin/python" -m compileall -q "$repo/core" "$repo/hooks" "$repo/plugins"
