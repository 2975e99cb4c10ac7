"""The `auditors` group, holding hitl.export_auditevent: its members export the audit trail."""

from django.db import migrations

GROUP = "auditors"
CODENAME = "export_auditevent"


def create_auditors(apps, schema_editor):
    db = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    # Django creates permissions after the whole migrate run (post_migrate), so on a fresh
    # database the row is not there yet: create it as create_permissions would.
    content_type, _ = ContentType.objects.using(db).get_or_create(app_label="hitl", model="auditevent")
    permission, _ = Permission.objects.using(db).get_or_create(
        content_type=content_type, codename=CODENAME, defaults={"name": "Can export the audit trail"}
    )
    group, _ = Group.objects.using(db).get_or_create(name=GROUP)
    group.permissions.add(permission)


def remove_auditors(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("hitl", "0007_audit_chain"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_auditors, remove_auditors)]
