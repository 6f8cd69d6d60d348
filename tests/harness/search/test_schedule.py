"""The fair order: blocks of trials, each round one block per study, rounds shuffled."""

from __future__ import annotations

import pytest

from harness.search.schedule import blocks, default_block


def test_every_study_gets_its_trials_in_blocks_one_per_round():
    order = blocks({"plain": 7, "lightning": 7, "ignite": 5}, block=2, seed=3)
    for name, total in (("plain", 7), ("lightning", 7), ("ignite", 5)):
        assert sum(n for s, n in order if s == name) == total
    rounds = [order[i:i + 3] for i in range(0, 9, 3)]  # ignite runs out in the fourth
    assert all(sorted(s for s, _ in r) == ["ignite", "lightning", "plain"] for r in rounds)
    assert [s for s, _ in order[9:]] in (["plain", "lightning"], ["lightning", "plain"])


def test_the_order_is_seeded_and_no_study_is_always_first():
    left = {"plain": 40, "lightning": 40, "ignite": 40}
    assert blocks(left, 2, seed=0) == blocks(dict(reversed(left.items())), 2, seed=0)
    assert blocks(left, 2, seed=0) != blocks(left, 2, seed=1)
    firsts = {blocks(left, 2, seed=0)[i][0] for i in range(0, 60, 3)}
    assert firsts == {"plain", "lightning", "ignite"}


def test_a_resumed_comparison_schedules_only_what_is_left():
    assert blocks({"plain": 0, "ignite": 3}, block=2, seed=0) == [("ignite", 2), ("ignite", 1)]
    assert default_block(1) == 2 and default_block(4) == 8
    with pytest.raises(ValueError, match="at least one trial"):
        blocks({"plain": 1}, block=0, seed=0)
