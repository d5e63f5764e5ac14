#!/bin/bash
# Set the host up for users (contrib/setup.sh, ending with its smoke test) and
# for the tests (contrib/test-setup.sh: test-only packages, the editable .venv),
# then run husk's whole test suite in parallel; exits with pytest's exit code.
# Arguments, if any, replace "tests contrib/examples" (the suite and the example
# plugins' own tests; e.g. contrib/test.sh tests/unit -x).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/contrib/setup.sh"
"$repo/contrib/test-setup.sh"
cd "$repo"
[ $# -gt 0 ] || set -- tests contrib/examples
exec .venv/bin/pytest -n auto -p no:cacheprovider --durations=15 "$@"
