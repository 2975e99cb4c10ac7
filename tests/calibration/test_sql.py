"""PostgreSQL computes the same figures as calibration.metrics: the bins of width_bucket, and the
sums of the per-day rollup and of the raw labels at a range's edges, on the same labels."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from calibration.metrics import bin_of, calibration, sums_of
from calibration.models import BinDay, Label
from calibration.selectors import Filters, calibration_rows
from calibration.services import bin_days_rebuild, label_record
from calibration.sums import BIN
from hitl.models import Action
from hitl.services import action_submit, agent_create
from tests.factories import ActionTypeFactory, UserFactory

START = datetime(2026, 10, 1, tzinfo=UTC)
EDGES = [0.0, 1.0, *(k / 10 for k in range(1, 10)), 0.7000000000000001, 0.6999999999999998, 0.30000000000000004]


def test_width_bucket_bins_every_confidence_as_bin_of_does(db):
    draw = random.Random(5)
    confidences = EDGES + [draw.random() for _ in range(5000)] + [round(draw.random(), 2) for _ in range(500)]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT l.confidence, {BIN} FROM unnest(%s::float8[]) AS l(confidence)", [confidences])
        rows = cursor.fetchall()
    assert [b for _, b in rows] == [bin_of(c) for c, _ in rows]


@pytest.fixture
def labels(db):
    """240 labels over 12 days, two types (two domains), two agents, routed and audit-sampled, every
    verdict; confidences at the bin edges, 0.0 and 1.0 among them."""
    draw = random.Random(11)
    types = [
        ActionTypeFactory(key="tag_ticket", name="Tag", domain="support", irreversible=False, payload_schema=None),
        ActionTypeFactory(key="issue_refund", name="Refund", domain="billing", irreversible=False, payload_schema=None),
    ]
    agents = [agent_create(name=name)[0] for name in ("support-bot", "billing-bot")]
    reviewer = UserFactory(username="tina")
    for i in range(240):
        confidence = draw.choice(EDGES) if i % 4 == 0 else draw.random()
        action = action_submit(
            agent=draw.choice(agents),
            action_type=draw.choice(types),
            summary=f"#{i}",
            payload={},
            confidence=confidence,
        )
        probability = draw.choice([1.0, 1.0, 0.02, 0.25])
        Action.objects.filter(pk=action.pk).update(review_probability=probability)
        action.review_probability = probability
        verdict = draw.choice(["approved", "modified", "rejected", "confirmed", "flagged"])
        decided_at = START + timedelta(days=i // 20, hours=draw.uniform(0, 24))
        label_record(action=action, verdict=verdict, reviewer=reviewer, decided_at=decided_at)
    return types, agents


def python_figures(selection):
    return calibration(sums_of((x.confidence, x.correct, x.probability, x.verdict == "modified") for x in selection))


def same(got, expected) -> bool:
    """Equal, but for the order floating-point sums were added in; None (no labels) only to None."""
    return got == expected if None in (got, expected) else got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def assert_equal_figures(got, expected):
    assert got.n == expected.n
    assert [b.n for b in got.bins] == [b.n for b in expected.bins]
    for name in ("ece", "mce", "brier", "accuracy", "modification_rate", "bias_z"):
        assert same(getattr(got, name), getattr(expected, name)), name
    assert (got.chronic, got.bias) == (expected.chronic, expected.bias)
    for mine, theirs in zip(got.bins, expected.bins, strict=True):
        assert same(mine.mean_confidence, theirs.mean_confidence) and same(mine.accuracy, theirs.accuracy)


RANGES = {
    "all": (None, None),
    "whole days": (START + timedelta(days=2), START + timedelta(days=9)),
    "cutting days": (START + timedelta(days=2, hours=13, minutes=7), START + timedelta(days=9, hours=5, seconds=1)),
    "from only, mid-day": (START + timedelta(days=6, hours=0, microseconds=1), None),
    "to only, mid-day": (None, START + timedelta(days=3, hours=23, minutes=59, seconds=59)),
    "within one day": (START + timedelta(days=4, hours=3), START + timedelta(days=4, hours=17)),
    "empty": (START + timedelta(days=4, hours=3), START + timedelta(days=4, hours=3)),
}


@pytest.mark.parametrize("span", RANGES)
def test_the_rows_equal_the_pure_figures_over_the_same_labels(labels, span):
    since, until = RANGES[span]
    selection = Label.objects.all()
    if since is not None:
        selection = selection.filter(decided_at__gte=since)
    if until is not None:
        selection = selection.filter(decided_at__lt=until)

    rows = calibration_rows(Filters(since=since, until=until))

    assert [r.action_type.key for r in rows] == ["issue_refund", "tag_ticket"]
    for row in rows:
        assert_equal_figures(row.figures, python_figures(selection.filter(action_type=row.action_type)))
    assert sum(r.figures.n for r in rows) == selection.count()


def test_grouped_by_agent_and_filtered_the_rows_equal_the_pure_figures(labels):
    types, agents = labels
    since, until = RANGES["cutting days"]
    selection = Label.objects.filter(decided_at__gte=since, decided_at__lt=until)

    rows = calibration_rows(Filters(since=since, until=until, group_by="agent"))
    assert {(r.action_type.key, r.agent.name) for r in rows} == {(t.key, a.name) for t in types for a in agents}
    for row in rows:
        expected = python_figures(selection.filter(action_type=row.action_type, agent=row.agent))
        assert_equal_figures(row.figures, expected)

    (only,) = calibration_rows(Filters(agent=agents[1], domain="billing"))
    assert only.action_type.key == "issue_refund"
    assert_equal_figures(only.figures, python_figures(Label.objects.filter(agent=agents[1], domain="billing")))


def test_rebuilding_the_rollup_from_the_labels_gives_the_sums_kept_as_they_came(labels):
    def rollup():
        columns = ("day", "action_type_id", "domain", "agent_id", "bin", "n", "modified")
        return {tuple(getattr(d, c) for c in columns): (d.w, d.wc, d.wy, d.wb) for d in BinDay.objects.all()}

    kept = rollup()
    BinDay.objects.all().delete()
    assert bin_days_rebuild() == len(kept)
    rebuilt = rollup()
    assert rebuilt.keys() == kept.keys()
    for key, sums in kept.items():
        assert rebuilt[key] == pytest.approx(sums, rel=1e-12)
