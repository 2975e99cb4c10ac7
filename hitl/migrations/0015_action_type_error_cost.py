"""What an unreviewed error of each action type costs, for recalibration (default 1)."""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hitl", "0014_receipts_compensation_webhook_rotation_review_window"),
    ]

    operations = [
        migrations.AddField(
            model_name="actiontype",
            name="error_cost",
            field=models.FloatField(
                default=1.0,
                help_text="What an error of this type that nobody reviewed costs, relative to other types (0.01 to 1000): recalibration sends reviewers the costliest likely errors first.",
                validators=[
                    django.core.validators.MinValueValidator(0.01),
                    django.core.validators.MaxValueValidator(1000.0),
                ],
            ),
        ),
    ]
