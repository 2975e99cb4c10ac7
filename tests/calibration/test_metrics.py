"""calibration.metrics is pure: hand-computed cases, and an independent numpy reference on random
data (confidence 0.0 and 1.0, bin edges, empty bins, audit-sample weights)."""

import math
import random

import numpy as np
import pytest

from calibration.metrics import BIAS_MIN_LABELS, bin_of, calibration, sums_of


def figures(labels):
    """labels: (confidence, right, probability, modified)."""
    return calibration(sums_of(labels))


def test_a_hand_computed_case():
    # Bin 10 holds 0.95 (right), 0.95 (wrong) and 1.0 (right): mean confidence 0.9667, accuracy 2/3,
    # gap 0.3. Bin 2 holds 0.15 (wrong): gap 0.15. Bin 1 holds 0.0 (wrong): gap 0.
    result = figures([(0.95, True, 1, False), (0.95, False, 1, True), (1.0, True, 1, False), (0.15, False, 1, False),
                      (0.0, False, 1, False)])  # fmt: skip

    assert result.n == 5
    assert result.ece == pytest.approx((3 * 0.3 + 1 * 0.15 + 1 * 0.0) / 5)  # 0.21
    assert result.mce == pytest.approx(0.3)
    assert result.brier == pytest.approx((0.05**2 + 0.95**2 + 0 + 0.15**2 + 0) / 5)  # 0.1855
    assert result.accuracy == pytest.approx(2 / 5)
    assert [b.n for b in result.bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    last = result.bins[-1]
    assert (last.lower, last.upper) == (0.9, 1.0)
    assert last.mean_confidence == pytest.approx(2.9 / 3) and last.accuracy == pytest.approx(2 / 3)
    assert result.bins[4].mean_confidence is None and result.bins[4].accuracy is None  # empty bins have no figures
    assert result.modification_rate == pytest.approx(1 / 5) and not result.chronic  # 20 % is not above 20 %


def test_a_label_weighs_by_the_inverse_of_its_probability():
    # An audit-sampled right answer (p = 0.5) stands for two; a routed wrong one (p = 1) for one.
    result = figures([(0.9, True, 0.5, False), (0.9, False, 1.0, False)])

    assert result.n == 2  # counts stay counts
    assert result.accuracy == pytest.approx(2 / 3)
    assert result.ece == pytest.approx(abs(0.9 - 2 / 3))
    assert result.brier == pytest.approx((2 * 0.1**2 + 1 * 0.9**2) / 3)


def test_bin_edges_belong_to_the_bin_above_and_one_to_the_last():
    assert [bin_of(c) for c in (0.0, 0.05, 0.1, 0.5, 0.9, 0.99, 1.0)] == [1, 1, 2, 6, 10, 10, 10]


def test_no_labels_gives_nulls_not_errors():
    result = figures([])
    assert (result.n, result.ece, result.mce, result.brier, result.accuracy) == (0, None, None, None, None)
    assert len(result.bins) == 10 and all(b.n == 0 for b in result.bins)
    assert (result.modification_rate, result.chronic, result.bias) == (None, False, "none")


def test_chronic_above_a_fifth_modified():
    labels = [(0.8, False, 1, True)] * 21 + [(0.8, True, 1, False)] * 79
    assert figures(labels).modification_rate == pytest.approx(0.21) and figures(labels).chronic


def reference(confidence, right, probability):
    """The figures, written independently with numpy: digitize at the edges 0.1 … 0.9 (as the floats
    k/10 that a confidence typed as 0.3 is: it belongs to [0.3, 0.4)), 1.0 in the last bin,
    weighted bincounts."""
    c, y, w = np.asarray(confidence, float), np.asarray(right, float), 1.0 / np.asarray(probability, float)
    index = np.digitize(c, np.arange(1, 10) / 10)
    count = np.bincount(index, minlength=10)
    weight = np.bincount(index, weights=w, minlength=10)
    filled = count > 0
    mean_c = np.bincount(index, weights=w * c, minlength=10)[filled] / weight[filled]
    accuracy = np.bincount(index, weights=w * y, minlength=10)[filled] / weight[filled]
    gaps = np.abs(mean_c - accuracy)
    d = c - y
    gap = np.average(d, weights=w)
    variance = np.sum(w**2 * (d - gap) ** 2) / np.sum(w) ** 2
    return {
        "counts": count.tolist(),
        "ece": float(np.sum(weight[filled] * gaps) / np.sum(w)),
        "mce": float(gaps.max()),
        "brier": float(np.average((c - y) ** 2, weights=w)),
        "accuracy": float(np.average(y, weights=w)),
        "z": float(gap / math.sqrt(variance)) if variance > 0 else None,
    }


EDGES = [0.0, 1.0, *(k / 10 for k in range(1, 10)), 0.3, 0.7, 0.29999999999999999, 0.7000000000000001]


@pytest.mark.parametrize("seed", range(40))
def test_the_figures_equal_an_independent_reference_on_random_data(seed):
    draw = random.Random(seed)
    n = draw.choice([1, 2, 7, 50, 400])
    # Some seeds keep to a few bins (the rest empty), some spread over all of them.
    low, high = sorted((draw.random(), draw.random())) if seed % 3 == 0 else (0.0, 1.0)
    confidence = [draw.choice(EDGES) if draw.random() < 0.2 else draw.uniform(low, high) for _ in range(n)]
    right = [draw.random() < c for c in confidence]
    probability = [draw.choice([1.0, 1.0, 1.0, 0.02, 0.25]) for _ in range(n)]

    result = figures(zip(confidence, right, probability, [False] * n, strict=True))
    expected = reference(confidence, right, probability)

    assert [b.n for b in result.bins] == expected["counts"] and result.n == n
    assert result.ece == pytest.approx(expected["ece"], abs=1e-12)
    assert result.mce == pytest.approx(expected["mce"], abs=1e-12)
    assert result.brier == pytest.approx(expected["brier"], abs=1e-12)
    assert result.accuracy == pytest.approx(expected["accuracy"], abs=1e-12)
    if expected["z"] is None or abs(expected["z"]) > 1e6:
        assert result.bias_z is None or abs(result.bias_z) > 1e6
    else:
        assert result.bias_z == pytest.approx(expected["z"], rel=1e-6)


def stream(seed, n, truth, confidences):
    draw = random.Random(seed)
    labels = []
    for _ in range(n):
        c = draw.uniform(*confidences)
        labels.append((c, draw.random() < truth(c), 1.0, False))
    return labels


def test_an_over_confident_agent_is_flagged_over():
    result = figures(stream(1, 200, lambda c: 0.6, (0.8, 0.97)))
    assert result.bias == "over" and result.bias_z > 2.58


def test_an_under_confident_agent_is_flagged_under():
    result = figures(stream(2, 200, lambda c: 0.93, (0.45, 0.7)))
    assert result.bias == "under" and result.bias_z < -2.58


def test_a_calibrated_agent_is_rarely_flagged():
    # A two-sided 1 % test: about 1 in 100 calibrated streams is flagged, by chance.
    flagged = sum(figures(stream(seed, 300, lambda c: c, (0.0, 1.0))).bias != "none" for seed in range(200))
    assert flagged <= 6


def test_too_few_labels_flag_nothing():
    few = stream(3, BIAS_MIN_LABELS - 1, lambda c: 0.0, (0.9, 1.0))  # always wrong, yet too few to say
    assert figures(few).bias == "none"
    assert figures(stream(3, BIAS_MIN_LABELS, lambda c: 0.0, (0.9, 1.0))).bias == "over"
