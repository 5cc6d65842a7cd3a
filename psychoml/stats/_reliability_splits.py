"""Enumeration of split halves for :func:`psychoml.stats.reliability.split_half` (private)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

__all__ = ["all_splits", "n_distinct_splits", "odd_even_split", "psych_splits", "random_splits"]

_CHUNK = 20000


def n_distinct_splits(n: int) -> int:
    """Number of distinct ways to cut ``n`` items into halves of sizes ``n // 2`` and ``n - n // 2``."""
    m = n // 2
    return math.comb(n, m) // 2 if n % 2 == 0 else math.comb(n, m)


def _membership(combos: list[tuple[int, ...]], n: int) -> np.ndarray:
    out = np.zeros((len(combos), n), dtype=bool)
    rows = np.repeat(np.arange(len(combos)), len(combos[0]))
    out[rows, np.fromiter(itertools.chain.from_iterable(combos), dtype=np.intp)] = True
    return out


def _chunks(it: Iterator[tuple[int, ...]], n: int) -> Iterator[np.ndarray]:
    while True:
        block = list(itertools.islice(it, _CHUNK))
        if not block:
            return
        yield _membership(block, n)


def all_splits(n: int) -> Iterator[np.ndarray]:
    """Boolean membership of half A for every distinct split, in chunks.

    For even ``n`` half A always holds item 0 (so each split appears once);
    for odd ``n`` half A is every subset of size ``n // 2``.
    """
    m = n // 2
    if n % 2 == 0:
        it = ((0, *rest) for rest in itertools.combinations(range(1, n), m - 1))
    else:
        it = itertools.combinations(range(n), m)
    return _chunks(it, n)


def psych_splits(n: int) -> tuple[np.ndarray, float]:
    """The splits ``psych::splitHalf`` visits in its brute-force branch, and its divisor.

    psych walks the lexicographic ``n // 2``-subsets and stops after
    ``ceiling(choose(n, n // 2) / 2)`` of them, dividing the sum by
    ``choose(n, n // 2) / 2``.  For even ``n`` these are exactly the distinct
    splits; for odd ``n`` they are the first half of them only (psych 2.2.9).
    """
    m = n // 2
    count = math.comb(n, m) / 2
    combos = list(itertools.islice(itertools.combinations(range(n), m), math.ceil(count)))
    return _membership(combos, n), count


def random_splits(n: int, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """``n_splits`` random halves of size ``n // 2`` (sampled with replacement across splits)."""
    m = n // 2
    keys = rng.random((n_splits, n))
    idx = np.argpartition(keys, m - 1, axis=1)[:, :m] if m < n else np.tile(np.arange(n), (n_splits, 1))
    out = np.zeros((n_splits, n), dtype=bool)
    np.put_along_axis(out, idx, True, axis=1)
    return out


def odd_even_split(n: int) -> np.ndarray:
    """Half A = items 1, 3, 5, ... (1-based), half B = items 2, 4, 6, ..."""
    out = np.zeros((1, n), dtype=bool)
    out[0, 0::2] = True
    return out
