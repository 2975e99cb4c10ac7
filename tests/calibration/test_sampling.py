"""Audit sampling: a share of the actions that run on their own is also reviewed after it ran, with
the probability recorded, so calibration sees the confident region and weighs it back to size."""

import random
import statistics
from datetime import timedelta

import pytest

from audit.models import AuditEvent
from calibration.metrics import calibration, sums_of
from calibration.models import Label
from escalation.services import escalation_sweep
from hitl import services as hitl_services
from hitl.models import Action
from hitl.routing import AUTONOMOUS, Policy, RiskFacts, route
from tests.audit.audit_flows import form_decide, fresh
from tests.conftest import submit_body


def facts(c, *, rate, draw):
    return RiskFacts(action_type="tag_ticket", domain="support", confidence=c, irreversible=False, blast_radius=1,
                     compliance_risk=False, audit_sample_rate=rate, sample_draw=draw)  # fmt: skip


def test_a_confident_action_drawn_below_the_rate_is_sampled():
    sampled = route(facts(0.95, rate=0.05, draw=0.01), Policy())
    assert (sampled.pattern, sampled.sampled, sampled.review_probability) == (AUTONOMOUS, True, 0.05)
    assert (sampled.tier, sampled.reviewer_group) == ("tier1", "team")
    assert [r.code for r in sampled.reasons] == ["confident", "audit_sample"]

    passed = route(facts(0.95, rate=0.05, draw=0.05), Policy())
    assert (passed.pattern, passed.sampled, passed.review_probability, passed.tier) == (AUTONOMOUS, False, 0.05, None)
    assert not route(facts(0.95, rate=0.0, draw=0.0), Policy()).sampled  # a rate of 0 turns it off


def test_a_routed_action_is_never_sampled_and_a_human_sees_it_for_sure():
    routed = route(facts(0.5, rate=1.0, draw=0.0), Policy())
    assert routed.pattern != AUTONOMOUS and not routed.sampled and routed.review_probability == 1.0


class Draws:
    """Stands in for the submit's random source: the draws given, in order."""

    def __init__(self, *draws):
        self.draws = list(draws)

    def random(self):
        return self.draws.pop(0)


def test_the_agent_is_told_approved_and_a_reviewer_spot_checks_it(scene, monkeypatch):
    scene.tagging.audit_sample_rate = 0.3
    scene.tagging.save()
    scene.submit("Warm-up", action_type=scene.tagging, payload={}, confidence=0.99)  # no longer a first
    monkeypatch.setattr(hitl_services, "_draws", Draws(0.1, 0.9))
    body = submit_body(action_type="tag_ticket", payload={"tag": "refund"}, entity={}, confidence=0.97)

    picked = scene.api.post("/api/v1/actions", body, format="json").json()
    passed = scene.api.post("/api/v1/actions", body, format="json").json()

    for answer in (picked, passed):  # the agent's answer is the same: run it
        assert (answer["status"], answer["route"]["pattern"]) == ("approved", "autonomous")
        assert answer["route"]["tier"] is None and answer["route"]["reviewer_group"] == ""
    assert picked["route"]["reason_codes"] == ["confident", "audit_sample"]
    assert "audit sample (30% of tag_ticket actions" in picked["route"]["reasons"][1]
    assert passed["route"]["reason_codes"] == ["confident"]
    sampled, not_sampled = Action.objects.get(pk=picked["id"]), Action.objects.get(pk=passed["id"])
    assert (sampled.sampled, sampled.review_probability, sampled.due_at is not None) == (True, 0.3, True)
    assert (not_sampled.sampled, not_sampled.review_probability, not_sampled.due_at) == (False, 0.3, None)

    tina = scene.page("tina")
    post_tab = tina.get("/reviews/?tab=post").content.decode()
    assert f'id="row-{sampled.pk}"' in post_tab and f'id="row-{not_sampled.pk}"' not in post_tab
    assert form_decide(tina, sampled, decision="confirm").status_code == 302

    label = Label.objects.get(action=sampled)
    assert (label.verdict, label.correct, label.probability, label.route_pattern) == ("confirmed", True, 0.3,
                                                                                       "autonomous")  # fmt: skip
    assert fresh(sampled).status == "approved" and Label.objects.count() == 1


TOLERANCE = 0.01  # on the mean error of the accuracy estimate over the seeds


def simulated_stream(seed, n=1000, rate=0.05):
    """An agent under-confident where routing asks a human (c < 0.7: right with c + 0.1) and
    over-confident where it does not (right with c − 0.15): the labels a deployment would get, and
    the accuracy over every action."""
    draw = random.Random(seed)
    labels, rights = [], []
    for _ in range(n):
        c = draw.uniform(0.3, 1.0)
        right = draw.random() < (c + 0.1 if c < 0.7 else c - 0.15)
        rights.append(right)
        routed = route(facts(c, rate=rate, draw=draw.random()), Policy())
        if routed.pattern != AUTONOMOUS or routed.sampled:
            labels.append((c, right, routed.review_probability, False))
    return labels, sum(rights) / n


def test_weighted_labels_estimate_the_accuracy_of_every_action_without_bias():
    weighted, naive = [], []
    for seed in range(200):
        labels, truth = simulated_stream(seed)
        weighted.append(calibration(sums_of(labels)).accuracy - truth)
        naive.append(calibration(sums_of((c, y, 1.0, m) for c, y, _, m in labels)).accuracy - truth)

    assert abs(statistics.mean(weighted)) < TOLERANCE
    assert statistics.mean(naive) < -3 * TOLERANCE  # without the weights, the confident region is under-counted
    assert statistics.quantiles(weighted, n=20)[0] > -0.1 and statistics.quantiles(weighted, n=20)[-1] < 0.1


@pytest.mark.parametrize("rate", [0.02, 0.2])
def test_the_share_sampled_is_the_rate(rate):
    draw = random.Random(7)
    picked = [route(facts(0.95, rate=rate, draw=draw.random()), Policy()).sampled for _ in range(20_000)]
    assert sum(picked) / len(picked) == pytest.approx(rate, rel=0.1)


def test_an_unreviewed_sample_has_its_window_closed_and_no_label(scene, monkeypatch):
    scene.tagging.audit_sample_rate = 0.5
    scene.tagging.save()
    scene.submit("Warm-up", action_type=scene.tagging, payload={}, confidence=0.99)
    monkeypatch.setattr(hitl_services, "_draws", Draws(0.0))
    sampled = scene.submit("Tag 884", action_type=scene.tagging, payload={"tag": "spam"}, confidence=0.99)
    assert sampled.sampled

    escalation_sweep(now=sampled.due_at + timedelta(seconds=1))

    assert AuditEvent.objects.filter(action=sampled, event_type=AuditEvent.Type.REVIEW_WINDOW_CLOSED).count() == 1
    assert not Label.objects.exists()  # nobody looked: no label
