"""The audit log moves to its own app (audit): its models leave the core's state; the tables, with
their names, triggers and rows, stay where they are (audit 0001 takes them over)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("hitl", "0010_routing_settings_row")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditAnchor"), migrations.DeleteModel(name="AuditEvent")]
        )
    ]
