"""Threshold proposals and the one row of recalibration settings (weekly, from 50 verdicts, 14 days)."""

import datetime

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def create(apps, schema_editor):
    apps.get_model("calibration", "RecalibrationSettings").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [
        ("calibration", "0002_counted_through"),
        ("hitl", "0015_action_type_error_cost"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RecalibrationSettings",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "every",
                    models.DurationField(
                        default=datetime.timedelta(days=7),
                        help_text="How often new threshold proposals are made, e.g. 7 00:00:00 (weekly).",
                    ),
                ),
                (
                    "min_labels",
                    models.PositiveIntegerField(
                        default=50,
                        help_text="Human verdicts an action type needs before a threshold is proposed for it.",
                        validators=[django.core.validators.MinValueValidator(10)],
                    ),
                ),
                (
                    "replay_days",
                    models.PositiveSmallIntegerField(
                        default=14,
                        help_text="The recent days of actions a proposal is computed from and replayed on.",
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(90),
                        ],
                    ),
                ),
                ("last_run_at", models.DateTimeField(blank=True, editable=False, null=True)),
            ],
            options={
                "verbose_name": "recalibration settings",
                "verbose_name_plural": "recalibration settings",
            },
        ),
        migrations.CreateModel(
            name="ThresholdProposal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("proposed", "Proposed"),
                            ("applied", "Applied"),
                            ("rejected", "Rejected"),
                            ("superseded", "Superseded"),
                        ],
                        default="proposed",
                        max_length=16,
                    ),
                ),
                ("current_threshold", models.FloatField()),
                ("proposed_threshold", models.FloatField()),
                (
                    "interval",
                    models.JSONField(
                        help_text="[low, high]: the proposed threshold's 10th to 90th percentile (bootstrap)."
                    ),
                ),
                ("labels", models.PositiveIntegerField(help_text="Human verdicts the mapping was fitted on.")),
                (
                    "mapping",
                    models.JSONField(
                        help_text="Confidence to the chance of being right: [upper confidence, chance] steps."
                    ),
                ),
                (
                    "capacity",
                    models.FloatField(help_text="Decisions a day the reviewer groups can make (all types together)."),
                ),
                (
                    "replay",
                    models.JSONField(
                        help_text="Before and after, over the recent days: routed, errors, load per tier and group."
                    ),
                ),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                (
                    "action_type",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="hitl.actiontype"
                    ),
                ),
                (
                    "decided_by",
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
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.RunPython(create, migrations.RunPython.noop),
    ]
