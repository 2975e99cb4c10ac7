"""The audit log's models, taken over from the core (hitl 0011) with their tables as they are:
nothing changes in the database but the content types, whose permissions (the auditors' export)
now belong to this app."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def content_types_to_audit(apps, schema_editor):
    apps.get_model("contenttypes", "ContentType").objects.filter(
        app_label="hitl", model__in=["auditevent", "auditanchor"]
    ).update(app_label="audit")


def content_types_to_hitl(apps, schema_editor):
    apps.get_model("contenttypes", "ContentType").objects.filter(
        app_label="audit", model__in=["auditevent", "auditanchor"]
    ).update(app_label="hitl")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("hitl", "0011_audit_models_to_the_audit_app"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditAnchor",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("last_event_id", models.BigIntegerField(unique=True)),
                        ("event_count", models.PositiveBigIntegerField()),
                        ("digest", models.CharField(max_length=64)),
                        ("signature", models.CharField(max_length=64)),
                        (
                            "pruned_at",
                            models.DateTimeField(blank=True, help_text="When retention removed its events.", null=True),
                        ),
                    ],
                    options={
                        "db_table": "hitl_auditanchor",
                        "ordering": ["id"],
                    },
                ),
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("created_at", models.DateTimeField(db_index=True)),
                        ("event_type", models.CharField(max_length=32)),
                        (
                            "actor_type",
                            models.CharField(
                                choices=[
                                    ("agent", "Agent"),
                                    ("reviewer", "Reviewer"),
                                    ("system", "System"),
                                    ("admin", "Admin"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("actor_label", models.CharField(blank=True, max_length=150)),
                        ("request_id", models.CharField(blank=True, max_length=64)),
                        ("action_type", models.CharField(blank=True, max_length=64)),
                        ("agent_confidence", models.FloatField(blank=True, null=True)),
                        ("routing_tier", models.CharField(blank=True, max_length=8)),
                        ("decision", models.CharField(blank=True, max_length=16)),
                        ("time_to_decision_seconds", models.FloatField(blank=True, null=True)),
                        ("modified_action", models.JSONField(blank=True, null=True)),
                        ("before", models.JSONField(blank=True, null=True)),
                        ("after", models.JSONField(blank=True, null=True)),
                        ("data", models.JSONField(blank=True, default=dict)),
                        (
                            "seq",
                            models.BigIntegerField(
                                blank=True, editable=False, help_text="Position in its chain, from 1.", null=True
                            ),
                        ),
                        ("prev_hash", models.CharField(blank=True, editable=False, max_length=64)),
                        ("hash", models.CharField(blank=True, editable=False, max_length=64)),
                        (
                            "action",
                            models.ForeignKey(
                                blank=True,
                                db_index=False,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="audit_events",
                                to="hitl.action",
                            ),
                        ),
                        (
                            "agent",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="hitl.agent",
                            ),
                        ),
                        (
                            "reviewer",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "hitl_auditevent",
                        "ordering": ["id"],
                        "permissions": [("export_auditevent", "Can export the audit trail")],
                        "indexes": [
                            models.Index(
                                condition=models.Q(("action__isnull", True)), fields=["seq"], name="audit_global_chain"
                            )
                        ],
                        "constraints": [models.UniqueConstraint(fields=("action", "seq"), name="audit_chain_seq")],
                    },
                ),
            ]
        ),
        migrations.RunPython(content_types_to_audit, content_types_to_hitl),
    ]
