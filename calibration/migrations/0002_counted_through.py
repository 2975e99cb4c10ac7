"""Counting the actions submitted starts with those of this moment on (older ones are counted
once, by the first run, when there are any: the mark starts before them)."""

from datetime import UTC, datetime

from django.db import migrations


def create(apps, schema_editor):
    apps.get_model("calibration", "CountedThrough").objects.get_or_create(
        pk=1, defaults={"at": datetime(2000, 1, 1, tzinfo=UTC)}
    )


class Migration(migrations.Migration):
    dependencies = [("calibration", "0001_labels")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
