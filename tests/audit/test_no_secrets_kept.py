"""No secret is kept where it does not belong (issue 19): a full flow that uses a Slack webhook URL,
a generic webhook URL, an agent's token and webhook secret and a callback URL with a credential in
it, delivering to receivers that fail so every error path logs, leaves none of them in any audit
row or log line; the audit and the admin list show each URL as its host and a fingerprint."""

import json
import logging

from django.core.management import call_command

from audit.models import AuditEvent
from callbacks.models import WebhookDelivery
from callbacks.services import webhook_deliver
from escalation.models import NotificationRoute
from escalation.services import escalation_sweep
from escalation.tasks import deliver_notifications
from hitl.redaction import fingerprint
from tests.audit.audit_flows import FLOWS, run_command
from tests.conftest import bearer_client, free_port, submit_body


def test_a_full_flow_keeps_no_secret_in_the_audit_or_the_logs(scene, caplog):
    caplog.set_level(logging.DEBUG)
    slack = f"https://127.0.0.1:{free_port()}/services/T0SLACKSECRET/B0SLACKSECRET/xoxSLACKSECRETPATH"
    hook = f"http://127.0.0.1:{free_port()}/hooks/WEBHOOKSECRETPATH"
    callback = f"http://127.0.0.1:{free_port()}/agent/CALLBACKSECRETPATH?token=CALLBACKSECRETQUERY"
    webhook_secret, token = run_command("create_agent", "ledger-bot").split("\n")[:2]
    webhook_secret = webhook_secret.removeprefix("Webhook secret: ")
    admin = scene.page("root")
    for target, channel in ((slack, "slack"), (hook, "webhook")):
        form = {"reviewer_group": "team", "event": "new_item", "channel": channel, "target": target, "is_active": "on"}
        added = admin.post("/admin/escalation/notificationroute/add/", form)
        assert added.status_code == 302, added.content.decode()[:3000]
    route = NotificationRoute.objects.get(channel="slack")
    changed = {**form, "channel": "slack", "target": slack + "2"}
    assert admin.post(f"/admin/escalation/notificationroute/{route.pk}/change/", changed).status_code == 302
    listed = admin.get("/admin/escalation/notificationroute/").content.decode()

    billing = bearer_client(token)
    submitted = billing.post("/api/v1/actions", submit_body(callback_url=callback), format="json")
    assert submitted.status_code == 201, submitted.content
    with scene.capture(execute=True):
        escalation_sweep()  # announces it: to Slack and the webhook, neither answering
    for ids in scene.enqueued:
        deliver_notifications.apply(args=[ids]).get()
    for delivery in WebhookDelivery.objects.all():  # the agent's callback, not answering either
        webhook_deliver(delivery_id=delivery.pk, attempt=1)
    for flow in FLOWS:
        flow(scene)
    call_command("verify_audit", stdout=open("/dev/null", "w"))

    secrets = ["T0SLACKSECRET", "xoxSLACKSECRETPATH", "WEBHOOKSECRETPATH", "CALLBACKSECRETPATH",
               "CALLBACKSECRETQUERY", webhook_secret, token]  # fmt: skip
    rows = [json.dumps(row, default=str) for row in AuditEvent.objects.values()]
    logged = [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    assert len(rows) > 50 and any("failed" in line for line in logged)  # the flow ran, errors were logged
    for secret in secrets:
        assert not [row for row in rows if secret in row], secret
        assert not [line for line in logged if secret in line], secret
        assert secret not in listed

    policy = AuditEvent.objects.filter(event_type="policy_changed", data__model="escalation.NotificationRoute")
    added = next(e for e in policy if e.after and e.after["channel"] == "slack" and e.before is None)
    assert added.after["target"] == f"https://127.0.0.1/… ({fingerprint(slack)})"  # whose it is, checkable
    edited = next(e for e in policy if e.before and e.after and e.after["channel"] == "slack")
    assert edited.before["target"] != edited.after["target"]  # the change still shows
    assert f"({fingerprint(slack + '2')})" in listed
    failed = AuditEvent.objects.filter(event_type="notification_failed", data__channel="slack").first()
    assert failed is not None and failed.data["target"] == f"https://127.0.0.1/… ({fingerprint(slack + '2')})"
