"""Which order statistics bound a median: the sign test's ranks, for a fixed n and for a
sequence of looks (an adaptive stop), computed exactly in pure Python.

The interval ``[x(j), x(n+1-j)]`` misses the median exactly when fewer than ``j`` of the n
values lie on one side of it. For independent draws of any continuous distribution the count
below the median, ``S_n``, is Binomial(n, 1/2), whatever the distribution, and as n grows it
is a simple random walk. That gives both rules here:

- fixed n: the largest ``j`` with ``P(S_n < j or S_n > n - j) <= 1 - level``;
- several looks (``until_ci``: the interval is looked at after every round from
  ``first`` to ``last`` repetitions, and the group stops at the first tight one): one
  per-look level for every look, the lowest for which the walk leaves the looks' intervals
  anywhere with probability at most ``1 - level``, by dynamic programming over the walk. The
  interval reported where the group stopped then covers with at least ``level``, for *any*
  rule that chooses the stopping look from the data (a union over the looks, exact, not
  Bonferroni), so the "until the interval is within P%" rule cannot bias it.

Nothing here imports numpy or scipy: the command line reads ``MIN_N_MEDIAN`` while it
validates input, before anything heavy is imported.
"""

from __future__ import annotations

from functools import lru_cache
from math import comb

CONFIDENCE = 0.95
MIN_N_MEDIAN = 6  # the smallest n whose min..max interval of a median covers >= 95%


def _two_sided_tail(j: int, n: int) -> float:
    """P(S_n <= j - 1) + P(S_n >= n - j + 1) = 2 P(S_n <= j - 1) for S_n ~ Binomial(n, 1/2)."""
    return 2 * sum(comb(n, k) for k in range(j)) / 2**n


@lru_cache(maxsize=4096)
def median_rank(n: int, alpha: float = 1 - CONFIDENCE) -> int:
    """The largest j <= n // 2 whose interval ``[x(j), x(n+1-j)]`` misses with probability at
    most ``alpha``; 0 when not even min..max does (no interval).

    >>> median_rank(12), median_rank(30), median_rank(5)
    (3, 10, 0)
    """
    j = 0
    while j < n // 2 and _two_sided_tail(j + 1, n) <= alpha:
        j += 1
    return j


def exit_probability(first: int, last: int, alpha: float) -> float:
    """P(the interval at per-look miss probability ``alpha`` misses at any look n in
    ``first..last``): the walk ``S_n`` leaving ``[j_n, n - j_n]`` at some look."""
    paths = [1.0]  # paths[s]: probability of S_n = s without having missed at a look
    missed = 0.0
    for n in range(1, last + 1):
        step = [0.0] * (n + 1)
        for s, p in enumerate(paths):
            step[s] += p / 2
            step[s + 1] += p / 2
        j = median_rank(n, alpha) if n >= first else 0
        if j:
            missed += sum(step[:j]) + sum(step[n - j + 1:])
            step[:j] = [0.0] * j
            step[n - j + 1:] = [0.0] * j
        paths = step
    return missed


@lru_cache(maxsize=256)
def sequential_alpha(first: int, last: int, level: float = CONFIDENCE) -> float:
    """The per-look miss probability of a plan that looks at every n in ``first..last``: the
    largest one whose intervals miss at *any* look with probability at most ``1 - level``.

    >>> round(sequential_alpha(12, 30), 4)  # the cpu suite's headline plan
    0.0213
    >>> sequential_alpha(6, 6) == 1 - CONFIDENCE  # one look: the fixed-n level
    True
    """
    if first >= last:
        return 1 - level
    # the ranks only change where alpha crosses a tail probability: search those values
    candidates = sorted({_two_sided_tail(j, n) for n in range(first, last + 1)
                         for j in range(1, n // 2 + 1)} | {1 - level})
    candidates = [a for a in candidates if a <= 1 - level]
    lo, hi = 0, len(candidates) - 1  # exit_probability rises with alpha
    if exit_probability(first, last, candidates[lo]) > 1 - level:
        return 0.0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if exit_probability(first, last, candidates[mid]) <= 1 - level:
            lo = mid
        else:
            hi = mid - 1
    return candidates[lo]
