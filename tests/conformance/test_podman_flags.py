"""Issue 12: every podman 4.3 flag on husk's verbs is accepted, an exception with
a reason (docs/cli.md), another issue's (pending), or on the shrinking list of
what is not built yet (pending-issue-12.txt)."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import podman_flags  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("podman") is None,
                                reason="podman is a test package (contrib/test-packages.txt): run contrib/test-setup.sh")


@pytest.fixture(scope="module")
def verbs():
    return podman_flags.measure()


def test_every_missing_flag_is_accounted_for(verbs):
    todo = podman_flags.not_built()
    unexpected = [f"{v.path or '(global)'} {f}" for v in verbs for f in v.missing if (v.path, f) not in todo]
    assert not unexpected, "podman flags husk lacks, not listed anywhere: " + ", ".join(unexpected)


def test_not_built_list_only_holds_real_gaps(verbs):
    """A flag that is built leaves pending-issue-12.txt (so the list only shrinks)."""
    missing = {(v.path, f) for v in verbs for f in v.missing}
    stale = sorted(f"{verb or '(global)'} {flag}" for verb, flag in podman_flags.not_built() - missing)
    assert not stale, "built now, remove from pending-issue-12.txt: " + ", ".join(stale)


def test_exceptions_have_reasons():
    for (verb, flag), reason in podman_flags.exceptions().items():
        assert len(reason) > 10, f"{verb} {flag}: an exception needs its reason"
