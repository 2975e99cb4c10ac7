"""Backlog bounds (one row: 200 waiting, oldest 2 h) and who hears when the queue passes one: the
lead group, in-app, out of the box. A backlog notification is about the whole queue, so it names
no action."""

import datetime

import django.db.models.deletion
from django.db import migrations, models


def create(apps, schema_editor):
    apps.get_model("escalation", "BacklogBound").objects.get_or_create(pk=1)
    apps.get_model("escalation", "NotificationRoute").objects.get_or_create(
        reviewer_group="lead", event="backlog", channel="inapp", target="", defaults={"is_active": True}
    )


def remove(apps, schema_editor):
    apps.get_model("escalation", "NotificationRoute").objects.filter(event="backlog").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("escalation", "0006_tier_policies_plural"),
        ("hitl", "0014_receipts_compensation_webhook_rotation_review_window"),
    ]

    operations = [
        migrations.CreateModel(
            name="BacklogBound",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "max_pending",
                    models.PositiveIntegerField(
                        blank=True, default=200, help_text="Items waiting for a human; empty for no bound.", null=True
                    ),
                ),
                (
                    "max_oldest_age",
                    models.DurationField(
                        blank=True,
                        default=datetime.timedelta(seconds=7200),
                        help_text="Age of the oldest waiting item, e.g. 02:00:00; empty for no bound.",
                        null=True,
                    ),
                ),
                (
                    "over_since",
                    models.DateTimeField(
                        blank=True,
                        editable=False,
                        help_text="Set while the queue is past a bound: when it passed.",
                        null=True,
                    ),
                ),
            ],
            options={
                "verbose_name": "backlog bounds",
                "verbose_name_plural": "backlog bounds",
            },
        ),
        migrations.AlterField(
            model_name="notification",
            name="action",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="Empty for a backlog alert, which is about the whole queue.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="notifications",
                to="hitl.action",
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="event",
            field=models.CharField(
                choices=[
                    ("new_item", "new item"),
                    ("warning", "SLA warning"),
                    ("escalation", "escalation"),
                    ("breach", "SLA breach"),
                    ("backlog", "backlog over its bound"),
                ],
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="notificationroute",
            name="event",
            field=models.CharField(
                choices=[
                    ("new_item", "new item"),
                    ("warning", "SLA warning"),
                    ("escalation", "escalation"),
                    ("breach", "SLA breach"),
                    ("backlog", "backlog over its bound"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="notification",
            name="text",
            field=models.CharField(blank=True, help_text="What a backlog alert says; empty otherwise.", max_length=300),
        ),
        migrations.RunPython(create, remove),
    ]
