from django.db import migrations

DEFAULTS = [
    ("wrong_target", "Wrong recipient or target"),
    ("wrong_values", "Amount or values are wrong"),
    ("policy_violation", "Breaks a policy"),
    ("not_requested", "Not what the user asked for"),
    ("missing_context", "Not enough context to approve"),
]


def add_defaults(apps, schema_editor):
    RejectReason = apps.get_model("reviews", "RejectReason")
    for position, (code, label) in enumerate(DEFAULTS):
        RejectReason.objects.get_or_create(code=code, defaults={"label": label, "position": position})


class Migration(migrations.Migration):
    dependencies = [("reviews", "0002_verdicts_and_reject_reasons")]
    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
