"""The labels of verdicts made before labels existed, built from the stored actions; and the count
of what agents submit, behind the routed share."""

import io
from datetime import timedelta

from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from calibration.models import ActionCount, BinDay, Label
from calibration.selectors import Filters, routed_shares
from calibration.services import actions_count_catch_up
from hitl.models import Action
from tests.audit.audit_flows import decisions_flow, post_action_flow

FIELDS = ("action_id", "action_type_id", "domain", "agent_id", "reviewer_id", "confidence", "correct", "verdict",
          "route_pattern", "route_tier", "policy_version", "probability", "edit", "patch", "time_to_decision",
          "decided_at")  # fmt: skip


def snapshot():
    labels = {row["action_id"]: row for row in Label.objects.values(*FIELDS)}
    sums = {(d.day, d.action_type_id, d.agent_id, d.bin): (d.n, d.modified, d.w, d.wy) for d in BinDay.objects.all()}
    return labels, sums


def backfill() -> str:
    out = io.StringIO()
    call_command("backfill_labels", stdout=out)
    return out.getvalue().strip()


def test_the_backfill_rebuilds_the_labels_the_verdicts_wrote_and_runs_once(scene):
    decisions_flow(scene)
    post_action_flow(scene)
    written = snapshot()
    assert len(written[0]) == 6
    Label.objects.all().delete()  # as before labels existed
    BinDay.objects.all().delete()

    assert backfill() == "6 labels written."
    assert snapshot() == written
    assert backfill() == "0 labels written."  # idempotent
    assert snapshot() == written


def test_the_counts_catch_up_once_and_a_minute_behind(scene):
    t0 = timezone.now() - timedelta(hours=1)

    def submitted_at(moment, summary, **facts):
        action = scene.submit(summary, **facts)
        Action.objects.filter(pk=action.pk).update(created_at=moment)

    for n in range(3):
        submitted_at(t0, f"Email #{n}")  # irreversible: routed
    submitted_at(t0, "Warm-up", action_type=scene.tagging, payload={}, confidence=0.99)  # a first: routed
    submitted_at(t0, "Tag", action_type=scene.tagging, payload={}, confidence=0.99)  # autonomous

    assert actions_count_catch_up(now=t0 + timedelta(seconds=30)) == 0  # less than a minute old: not yet
    assert not ActionCount.objects.exists()
    assert actions_count_catch_up(now=t0 + timedelta(seconds=61)) == 2  # one day, two types, one agent
    assert actions_count_catch_up(now=t0 + timedelta(seconds=61)) == 0  # nothing new: counted once
    submitted_at(t0 + timedelta(minutes=2), "Tag again", action_type=scene.tagging, payload={}, confidence=0.99)
    assert actions_count_catch_up(now=t0 + timedelta(minutes=4)) == 1

    totals = ActionCount.objects.aggregate(total=Sum("total"), routed=Sum("routed"))
    assert totals == {"total": 6, "routed": 4} and Action.objects.count() == 6
    shares = routed_shares(Filters())
    assert shares[scene.email.pk] == 1.0 and shares[scene.tagging.pk] == 1 / 3
