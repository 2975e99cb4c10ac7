"""The routing settings' one row exists after `migrate` (policy version 1, the design's knobs)."""

from django.db import migrations


def create(apps, schema_editor):
    apps.get_model("hitl", "RoutingSettings").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("hitl", "0009_audit_chain_ordered_by_action_locks")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
