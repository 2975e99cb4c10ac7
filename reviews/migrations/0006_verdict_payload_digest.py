import hashlib
import json

from django.conf import settings
from django.db import migrations, models


def _digest(payload) -> str:
    """hitl.payloads.payload_digest as it was when this migration was written."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def digest_earlier_verdicts(apps, schema_editor):
    """Each earlier verdict approved (or rejected) the payload shown then: the latest edit before
    it, else the agent's proposal."""
    Verdict = apps.get_model("reviews", "Verdict")
    shown = {}
    for verdict in Verdict.objects.select_related("action").order_by("action_id", "id").iterator():
        if verdict.kind == "modify":
            shown[verdict.action_id] = verdict.payload
        elif verdict.kind in ("confirm", "flag"):
            continue
        verdict.payload_sha256 = _digest(shown.get(verdict.action_id, verdict.action.payload))
        verdict.save(update_fields=["payload_sha256"])


class Migration(migrations.Migration):
    dependencies = [
        ("hitl", "0009_audit_chain_ordered_by_action_locks"),
        ("reviews", "0005_group_fallback"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="verdict",
            name="verdict_once_per_reviewer",
        ),
        migrations.AddField(
            model_name="verdict",
            name="payload_sha256",
            field=models.CharField(
                blank=True,
                help_text="SHA-256 of the canonical JSON of the payload the reviewer saw and approved (or rejected).",
                max_length=64,
            ),
        ),
        migrations.RunPython(digest_earlier_verdicts, migrations.RunPython.noop),
    ]
