#!/bin/bash
# Set the host up (contrib/setup.sh) and run husk's whole test suite in
# parallel; exits with pytest's exit code. Arguments, if any, replace
# "tests" (e.g. contrib/test.sh tests/unit -x).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/contrib/setup.sh"
cd "$repo"
exec .venv/bin/pytest -n auto -p no:cacheprovider --durations=15 "${@:-tests}"
