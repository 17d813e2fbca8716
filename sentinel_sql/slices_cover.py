"""Which GROUP BY passes evaluate the candidates of one level (pure Python, no SQL).

A level-L candidate needs the counts of its L features' codes; the slow part is one pass over
the encoded rows per feature combination. A single ``GROUP BY`` over a wider feature set F
gives the counts of *every* L-subset of F by summing over the other columns of its (small)
result, and costs little more than a narrow one while the product of the code ranges of F
stays small. ``plan_passes`` covers the combinations greedily with such sets.

>>> plan_passes([(0, 1), (0, 2), (1, 2), (3, 4)], {0: 3, 1: 3, 2: 3, 3: 9, 4: 9}, width=4,
...             limit=1000, max_passes=10)
[((0, 1, 2), [(0, 1), (0, 2), (1, 2)]), ((3, 4), [(3, 4)])]
"""

from __future__ import annotations

import itertools
import math


def plan_passes(
    todo: list[tuple[int, ...]],
    card: dict[int, int],
    *,
    width: int,
    limit: int,
    max_passes: int,
) -> list[tuple[tuple[int, ...], list[tuple[int, ...]]]]:
    """Group combinations (sorted feature tuples, in priority order) into passes.

    Each pass is ``(features, covered combinations)``: at most ``width`` features whose
    code-range product is at most ``limit`` (a combination alone may exceed it). Seeds are
    taken in ``todo`` order; a feature is added while it covers at least one more uncovered
    combination. At most ``max_passes`` passes are returned; the rest stay for later.
    """
    uncovered = set(todo)
    features = sorted({f for c in todo for f in c})
    passes: list[tuple[tuple[int, ...], list[tuple[int, ...]]]] = []
    for seed in todo:
        if len(passes) >= max_passes:
            break
        if seed not in uncovered:
            continue
        level = len(seed)
        chosen = list(seed)
        space = math.prod(card[f] for f in chosen)
        covered = [seed]
        uncovered.discard(seed)
        while len(chosen) < width:
            best, best_gain = None, 0
            for x in features:
                if x in chosen or space * card[x] > limit:
                    continue
                gain = sum(
                    tuple(sorted((*rest, x))) in uncovered
                    for rest in itertools.combinations(chosen, level - 1)
                )
                if gain > best_gain:
                    best, best_gain = x, gain
            if best is None:
                break
            for rest in itertools.combinations(chosen, level - 1):
                combo = tuple(sorted((*rest, best)))
                if combo in uncovered:
                    uncovered.discard(combo)
                    covered.append(combo)
            chosen.append(best)
            space *= card[best]
        passes.append((tuple(sorted(chosen)), covered))
    return passes
