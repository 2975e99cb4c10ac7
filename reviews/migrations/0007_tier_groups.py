"""The design's tier groups exist after `migrate`: team (rank 1), lead (2) and executive (3), so
reviewers can be added to them (`create_reviewer … --groups team`) before any traffic arrives."""

from django.db import migrations

GROUPS = [("team", "Team reviewers", 1), ("lead", "Team leads", 2), ("executive", "Executives", 3)]


def create(apps, schema_editor):
    ReviewerGroup = apps.get_model("reviews", "ReviewerGroup")
    for key, name, rank in GROUPS:
        ReviewerGroup.objects.get_or_create(key=key, defaults={"name": name, "kind": "tier", "rank": rank})


class Migration(migrations.Migration):
    dependencies = [("reviews", "0006_verdict_payload_digest")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
