"""A fresh `migrate` has the design's defaults as data, and nothing creates rows as it reads."""

from datetime import timedelta
from io import StringIO

from django.contrib.auth.models import Group
from django.core.management import call_command

from escalation.models import TierPolicy
from escalation.selectors import tier_policies
from hitl.models import RoutingSettings
from hitl.policy import policy_current, routing_settings
from reviews.models import ReviewerGroup


def test_migrate_alone_creates_the_tier_groups_policies_settings_and_auditors(db):
    groups = {g.key: (g.kind, g.rank) for g in ReviewerGroup.objects.all()}
    assert groups == {"team": ("tier", 1), "lead": ("tier", 2), "executive": ("tier", 3)}
    chain = {p.tier: (p.sla, p.approver_group, p.on_breach, p.escalate_to and p.escalate_to.tier, p.page)
             for p in TierPolicy.objects.select_related("escalate_to")}  # fmt: skip
    assert chain == {
        "tier1": (timedelta(hours=4), "team", "escalate", "tier2", False),
        "tier2": (timedelta(hours=1), "lead", "escalate", "tier3", False),
        "tier3": (timedelta(minutes=15), "executive", "expire", None, True),
    }
    assert RoutingSettings.objects.get(pk=1).version == 1
    assert Group.objects.get(name="auditors").permissions.filter(codename="export_auditevent").exists()
    policy = policy_current()
    assert policy.tier_groups == {"tier1": "team", "tier2": "lead", "tier3": "executive"}
    assert [step["tier"] for step in policy.escalation_chains["tier1"]] == ["tier1", "tier2", "tier3"]


def test_reading_the_policy_creates_nothing(db):
    TierPolicy.objects.update(escalate_to=None)
    TierPolicy.objects.all().delete()
    RoutingSettings.objects.all().delete()
    assert tier_policies() == {} and not TierPolicy.objects.exists()
    assert routing_settings().version == 1 and not RoutingSettings.objects.exists()  # the defaults, unsaved


def test_check_warns_while_a_tiers_group_has_nobody_to_decide(db):
    out = StringIO()
    call_command("check", stdout=out, stderr=out)
    printed = out.getvalue()
    for tier, group, needed in (("tier1", "team", 1), ("tier2", "lead", 1), ("tier3", "executive", 2)):
        expected = f"{tier}'s reviewer group {group} has 0 active member(s) and {tier} needs {needed} approval(s)"
        assert expected in printed
