"""Recalibrated thresholds, as pure functions (calibration.proposals feeds them from the database).

1. The chance an action of a type is right, given the confidence its agent stated, is fitted by
   isotonic regression on the type's human verdicts (weighted pool-adjacent-violators, each label
   weighing 1/p by its chance of having been reviewed, as calibration.metrics weighs them): a
   non-decreasing step function, which assumes only that a more confident proposal is not less
   often right.
2. The reviewers' capacity is shared by every type at once. The actions a type's rules send to a
   person whatever their confidence (compliance, blast radius, rules: `forced`) take their share
   first; the rest goes to the actions with the largest expected cost of an error nobody reviews,
   error_cost × (1 − chance right), across all types, riskiest first: the threshold of each type
   is then where its routed actions end. An action below its threshold is routed, as routing does.
3. Uncertainty: the type's labels are resampled (bootstrap) and each refit gives the threshold that
   holds the same risk cutoff; the 10th to 90th percentile of those is the interval.
"""

import bisect
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Mapping:
    """Confidence to the chance of being right: a step function, steps[i] = (upper confidence, chance)."""

    steps: tuple[tuple[float, float], ...]

    def chance(self, confidence: float) -> float:
        if not self.steps:
            return confidence
        uppers = [upper for upper, _ in self.steps]
        i = min(bisect.bisect_left(uppers, confidence), len(self.steps) - 1)
        return self.steps[i][1]


def isotonic(points: list[tuple[float, bool, float]]) -> Mapping:
    """Weighted pool-adjacent-violators over (confidence, right, weight): the non-decreasing step
    function closest to the verdicts in weighted squared error."""
    blocks: list[list[float]] = []  # [upper confidence, weighted sum of right, weight]
    for confidence, right, weight in sorted(points):
        blocks.append([confidence, weight * right, weight])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            upper, total, weight_sum = blocks.pop()
            blocks[-1] = [upper, blocks[-1][1] + total, blocks[-1][2] + weight_sum]
    return Mapping(tuple((upper, total / weight) for upper, total, weight in blocks))


@dataclass(frozen=True)
class Recent:
    """One recent action of a type: its confidence and whether its rules route it whatever that is."""

    confidence: float
    forced: bool


@dataclass(frozen=True)
class TypeInput:
    key: str
    error_cost: float
    mapping: Mapping
    recent: tuple[Recent, ...]
    current: float | None = None  # the threshold in force: kept when it routes the same actions


def thresholds(types: list[TypeInput], budget: int) -> tuple[dict[str, float], float]:
    """Each type's threshold when `budget` reviews (over the recent window) go first to the forced
    actions, then to the riskiest others; and the risk cutoff that ends them (0 when all fit)."""
    budget -= sum(r.forced for t in types for r in t.recent)
    candidates = sorted(
        ((t.error_cost * (1 - t.mapping.chance(r.confidence)), r.confidence, t.key) for t in types for r in t.recent
         if not r.forced),
        key=lambda c: (-c[0], c[1]),
    )  # fmt: skip
    routed = candidates[: max(budget, 0)]
    cutoff = routed[-1][0] if len(routed) < len(candidates) and routed else (0.0 if routed else float("inf"))
    result = {}
    for t in types:
        mine = sorted(r.confidence for r in t.recent if not r.forced)
        taken = sorted(c for _, c, key in routed if key == t.key)
        result[t.key] = routing_threshold(taken, mine, t.current)
    return result, cutoff


def routing_threshold(taken: list[float], everything: list[float], current: float | None = None) -> float:
    """A threshold that routes the `taken` confidences of `everything` (the lowest ones): `current`
    when it does, else one between the last taken and the first not."""
    if current is not None and sum(c < current for c in everything) == len(taken):
        return current
    if not everything:
        return 0.0
    if not taken:
        return round(everything[0], 3)  # route none: at the lowest confidence seen
    rest = everything[len(taken) :]
    if not rest:
        return 1.0
    return round((taken[-1] + rest[0]) / 2, 3)


def threshold_at_cutoff(t: TypeInput, mapping: Mapping, cutoff: float) -> float:
    """The type's threshold when everything riskier than `cutoff` is routed, under `mapping`."""
    mine = sorted(r.confidence for r in t.recent if not r.forced)
    # The risk falls as the confidence rises (the mapping does not decrease): the lowest ones are taken.
    count = sum(t.error_cost * (1 - mapping.chance(c)) >= cutoff for c in mine)
    return routing_threshold(mine[:count], mine, t.current)


def interval(t: TypeInput, labels: list[tuple[float, bool, float]], cutoff: float, *, rounds: int = 100,
             seed: int = 7) -> tuple[float, float]:  # fmt: skip
    """The 10th and 90th percentile of the threshold over bootstrap resamples of the labels."""
    rng = random.Random(seed)
    found = sorted(
        threshold_at_cutoff(t, isotonic([rng.choice(labels) for _ in labels]), cutoff) for _ in range(rounds)
    )
    return found[rounds // 10], found[(rounds * 9) // 10]


def unreviewed_errors(t: TypeInput, threshold: float) -> float:
    """Expected cost of the errors among the type's recent actions that no person reviews."""
    return sum(
        t.error_cost * (1 - t.mapping.chance(r.confidence))
        for r in t.recent
        if not r.forced and r.confidence >= threshold
    )
