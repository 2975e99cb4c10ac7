"""Calibration figures: pure functions, no ORM.

Labels are (confidence c, right y, probability p): each weighs w = 1/p, the inverse of the chance
it was sent to a human (1 when routed; the audit sample rate when it ran on its own), so a few
sampled confident actions stand for the many that were not. The confidence axis is cut into 10
equal-width bins, c = 1.0 in the last. Every figure is a ratio of per-bin sums (BinSums), which
the database keeps too (calibration.models.BinDay) and adds up by SQL: the same function finishes
both.

- ECE: the weighted mean, over non-empty bins, of |mean confidence − accuracy| (the design's
  count-weighted mean when every weight is 1); MCE: the largest of them.
- Brier score: the weighted mean of (c − y)²; accuracy: the weighted mean of y.
- Modification rate: labels whose verdict was an approval with edits, over all labels; above 20 %
  the type is chronic (the design's signal to fix the agent for it).
- Bias: a z-test of the weighted mean gap D = mean(c − y) against 0, with the sandwich estimate of
  its variance, Σw²(d − D)² / (Σw)²: over-confident when z ≥ 2.58, under-confident when z ≤ −2.58
  (two-sided, 1 %), once there are at least 30 labels. Bins sitting on one side of the diagonal
  beyond sampling noise is what moves D away from 0 by more than that noise.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass

BINS = 10
CHRONIC_RATE = 0.2
BIAS_Z = 2.58
BIAS_MIN_LABELS = 30


def bin_of(confidence: float) -> int:
    """1 to 10, as PostgreSQL's width_bucket(c, 0, 1, 10) numbers them, with 1.0 in the last bin."""
    return min(int(BINS * confidence) + 1, BINS)


@dataclass(frozen=True)
class BinSums:
    """One bin's labels, summed (w = 1/p, d = c − y)."""

    bin: int
    n: int = 0
    modified: int = 0
    w: float = 0.0  # Σw
    wc: float = 0.0  # Σw·c
    wy: float = 0.0  # Σw·y
    wb: float = 0.0  # Σw·d²
    w2: float = 0.0  # Σw²
    w2d: float = 0.0  # Σw²·d
    w2dd: float = 0.0  # Σw²·d²

    def __add__(self, other: "BinSums") -> "BinSums":
        return BinSums(
            self.bin, *(getattr(self, f) + getattr(other, f) for f in ("n", "modified", "w", "wc", "wy", "wb", "w2",
                                                                       "w2d", "w2dd"))
        )  # fmt: skip


def sums_of(labels: Iterable[tuple[float, bool, float, bool]]) -> list[BinSums]:
    """Per-bin sums of labels given as (confidence, right, probability, modified)."""
    bins = {b: BinSums(b) for b in range(1, BINS + 1)}
    for confidence, right, probability, modified in labels:
        w, y = 1.0 / probability, 1.0 if right else 0.0
        d = confidence - y
        b = bin_of(confidence)
        bins[b] = bins[b] + BinSums(b, 1, int(modified), w, w * confidence, w * y, w * d * d, w * w, w * w * d,
                                    w * w * d * d)  # fmt: skip
    return list(bins.values())


@dataclass(frozen=True)
class BinFigure:
    lower: float
    upper: float
    n: int
    mean_confidence: float | None
    accuracy: float | None


@dataclass(frozen=True)
class Calibration:
    n: int
    ece: float | None
    mce: float | None
    brier: float | None
    accuracy: float | None
    bins: tuple[BinFigure, ...]
    modification_rate: float | None
    chronic: bool
    bias: str  # "over", "under" or "none"
    bias_z: float | None


def calibration(bins: Iterable[BinSums]) -> Calibration:
    """The figures of labels summed per bin (any number of BinSums per bin: they are added up)."""
    totals = {b: BinSums(b) for b in range(1, BINS + 1)}
    for sums in bins:
        totals[sums.bin] = totals[sums.bin] + sums
    every = sum(totals.values(), BinSums(0))
    figures = tuple(
        BinFigure(
            lower=(b - 1) / BINS,
            upper=b / BINS,
            n=s.n,
            mean_confidence=s.wc / s.w if s.n else None,
            accuracy=s.wy / s.w if s.n else None,
        )
        for b, s in sorted(totals.items())
    )
    if not every.n:
        return Calibration(0, None, None, None, None, figures, None, False, "none", None)
    gaps = [(s.w, abs(s.wc - s.wy) / s.w) for s in totals.values() if s.n]
    rate = every.modified / every.n
    z = _bias_z(every)
    bias = "none"
    if z is not None and every.n >= BIAS_MIN_LABELS:
        bias = "over" if z >= BIAS_Z else "under" if z <= -BIAS_Z else "none"
    return Calibration(
        n=every.n,
        ece=sum(w * gap for w, gap in gaps) / every.w,
        mce=max(gap for _, gap in gaps),
        brier=every.wb / every.w,
        accuracy=every.wy / every.w,
        bins=figures,
        modification_rate=rate,
        chronic=rate > CHRONIC_RATE,
        bias=bias,
        bias_z=z,
    )


def _bias_z(s: BinSums) -> float | None:
    """z of the weighted mean gap D = Σw·d / Σw against 0; None when its variance is 0."""
    gap = (s.wc - s.wy) / s.w
    variance = (s.w2dd - 2 * gap * s.w2d + gap * gap * s.w2) / (s.w * s.w)
    if variance <= 1e-18:
        return None
    return gap / math.sqrt(variance)
