"""Someone is told out of the box: each tier group's reviewers get an in-app toast for new items,
escalations into their group, SLA warnings and breaches. Admins add email, Slack or webhook
routes, or switch these off, in Django admin (Notification routes)."""

from django.db import migrations

TIER_GROUPS = ("team", "lead", "executive")
EVENTS = ("new_item", "escalation", "warning", "breach")


def create(apps, schema_editor):
    NotificationRoute = apps.get_model("escalation", "NotificationRoute")
    for group in TIER_GROUPS:
        for event in EVENTS:
            NotificationRoute.objects.get_or_create(
                reviewer_group=group, event=event, channel="inapp", target="", defaults={"is_active": True}
            )


def remove(apps, schema_editor):
    NotificationRoute = apps.get_model("escalation", "NotificationRoute")
    NotificationRoute.objects.filter(
        reviewer_group__in=TIER_GROUPS, event__in=EVENTS, channel="inapp", target=""
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("escalation", "0003_notification_open_index")]

    operations = [migrations.RunPython(create, remove)]
