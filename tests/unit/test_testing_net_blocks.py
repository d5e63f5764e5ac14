"""husk.testing's installations reserve their networks' /22 on the host: two
made at once must never share one, even when the random draws say so."""

from __future__ import annotations

import random

from husk import testing


def test_installations_made_at_once_never_share_a_block(monkeypatch, tmp_path):
    # the check of stale rules reads the host's firewall: here no block has any
    monkeypatch.setattr(testing, "_rules_naming", lambda block: [])
    first_block, _, first_lock = testing._network_config(str(tmp_path / "a"))
    real_choice = random.choice
    drawn = []

    def choice(seq):  # each installation's first draw is the first one's block, then random as usual
        drawn.append(seq)
        return next(b for b in seq if str(b) == first_block) if len(drawn) == 1 else real_choice(seq)

    monkeypatch.setattr(random, "choice", choice)
    try:
        second_block, _, second_lock = testing._network_config(str(tmp_path / "b"))
        second_lock.close()
        assert second_block != first_block and len(drawn) > 1
    finally:
        first_lock.close()
    drawn.clear()
    third_block, _, third_lock = testing._network_config(str(tmp_path / "c"))  # released: free again
    third_lock.close()
    assert third_block == first_block
