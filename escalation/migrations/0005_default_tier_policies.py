"""The design's tiers exist after `migrate`, so an admin can set an SLA before any traffic
arrives: tier1 4 h (team) → tier2, tier2 1 h (lead) → tier3, tier3 15 min (executive) → expire,
paged."""

from datetime import timedelta

from django.db import migrations

TIERS = [  # tier, SLA, approver group, escalates to, paged
    ("tier1", timedelta(hours=4), "team", "tier2", False),
    ("tier2", timedelta(hours=1), "lead", "tier3", False),
    ("tier3", timedelta(minutes=15), "executive", None, True),
]


def create(apps, schema_editor):
    TierPolicy = apps.get_model("escalation", "TierPolicy")
    if TierPolicy.objects.exists():  # an admin has set them (or a first read once created them)
        return
    created = {}
    for tier, sla, group, _, page in TIERS:
        created[tier] = TierPolicy.objects.create(
            tier=tier, sla=sla, approver_group=group, page=page, on_breach="expire" if tier == "tier3" else "escalate"
        )
    for tier, _, _, next_tier, _ in TIERS:
        if next_tier:
            TierPolicy.objects.filter(pk=created[tier].pk).update(escalate_to=created[next_tier])


class Migration(migrations.Migration):
    dependencies = [("escalation", "0004_default_notification_routes")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
