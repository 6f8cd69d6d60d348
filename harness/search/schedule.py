"""The fair order: the studies of one comparison take turns in time, a block of trials each.

Run one after another (always plain, then Lightning, then Ignite), the studies meet different
conditions: the machine's load and thermal state drift, and the first study pays the page
cache's cold start. Such drift moves every trial of one study the same way, and the paired
per-trial overhead then reports it as a tight paradigm difference. Here each study's trials
are cut into blocks; each round runs one block of every study that has trials left, in an
order shuffled afresh each round by a seeded generator (the study's sampler seed), so that no
paradigm is always first or last and drift spreads over all of them. Each study's processes
stay up between its blocks and resume where they stopped (their sampler's state with them),
so the blocks change no trial's parameters. The A/A check (the same paradigm entered twice,
``--aa``) takes its turns like any study: drift that the order fails to spread shows as a
difference between two copies of one study.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

Block = tuple[str, int]  # (study name, trials to run now)


def default_block(workers: int) -> int:
    """Two trials per worker process: blocks short enough to interleave finely, each still
    giving every worker of a study something to do."""
    return 2 * workers


def blocks(left: Mapping[str, int], block: int, seed: int) -> list[Block]:
    """Rounds of one block per study that has trials left, each round in a shuffled order.

    >>> blocks({"plain": 3, "ignite": 3}, block=2, seed=0)
    [('ignite', 2), ('plain', 2), ('ignite', 1), ('plain', 1)]
    """
    if block <= 0:
        raise ValueError(f"a block is at least one trial, got {block}")
    rng = random.Random(seed)
    remaining = {name: n for name, n in left.items() if n > 0}
    order: list[Block] = []
    while remaining:
        names = sorted(remaining)  # the seed alone decides the order, not the dict's
        rng.shuffle(names)
        for name in names:
            take = min(block, remaining[name])
            order.append((name, take))
            remaining[name] -= take
            if not remaining[name]:
                del remaining[name]
    return order
