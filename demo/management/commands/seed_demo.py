from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from audit.export import auditors_group
from demo import data as demo
from escalation.notify_models import Channel, Event, NotificationRoute
from hitl.models import ActionType
from reviews.models import ReviewerGroup
from reviews.services import reviewer_create

# An auditor: not a reviewer, a member of the `auditors` group (migration 0008), which exports the
# audit trail at /audit/ and GET /api/v1/audit/events.
AUDITOR = ("audrey", "audrey-audit")


class Command(BaseCommand):
    help = "Create demo action types, reviewer groups, reviewers and an admin (idempotent); print the logins."
    requires_system_checks = []  # they would judge the groups before this fills them

    def handle(self, *args, **options):
        with transaction.atomic():
            # The demo samples its over-confident, mostly autonomous type far above the default 2 %,
            # so that audit samples show its calibration within minutes (demo.data.AUDIT_SAMPLE_RATES).
            rates = {key: {"audit_sample_rate": rate} for key, rate in demo.AUDIT_SAMPLE_RATES.items()}
            for fields in demo.ACTION_TYPES:
                ActionType.objects.update_or_create(
                    key=fields["key"], defaults={**fields, **rates.get(fields["key"], {})}
                )
            for fields in demo.GROUPS:
                ReviewerGroup.objects.update_or_create(key=fields["key"], defaults=fields)
            # The finance experts hear of their items as the tier groups do (backlog alerts go to leads).
            for event in [e for e in Event.values if e != Event.BACKLOG]:
                NotificationRoute.objects.get_or_create(
                    reviewer_group="finance", event=event, channel=Channel.INAPP, target=""
                )
            for username, password, groups, staff in demo.USERS:
                reviewer_create(
                    username=username, password=password, group_keys=groups, is_staff=staff, issue_token=False
                )
            User = get_user_model()
            admin_name, admin_password = demo.ADMIN
            admin = User.objects.filter(username=admin_name).first() or User(username=admin_name)
            admin.is_staff = admin.is_superuser = True
            admin.set_password(admin_password)
            admin.save()
            auditor_name, auditor_password = AUDITOR
            auditor = User.objects.filter(username=auditor_name).first() or User(username=auditor_name)
            auditor.set_password(auditor_password)
            auditor.save()
            auditor.groups.add(auditors_group())
        self.stdout.write(
            f"Demo data ready: {len(demo.ACTION_TYPES)} action types, {len(demo.GROUPS)} reviewer groups."
        )
        self.stdout.write("Logins (demo only):")
        self.stdout.write(f"  {admin_name:<8} {admin_password:<14} superuser (Django admin)")
        for username, password, groups, _ in demo.USERS:
            self.stdout.write(f"  {username:<8} {password:<14} reviewer in {', '.join(groups)}")
        self.stdout.write(f"  {auditor_name:<8} {auditor_password:<14} auditor (exports the audit trail at /audit/)")
