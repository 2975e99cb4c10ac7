"""Notifications of SLA events reach email (locmem), Slack, a webhook, the pager (a local HTTP
receiver) and the reviewers' sockets; once each, retried with backoff when a receiver fails."""

import json
import socketserver
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from escalation import delivery, notify
from escalation.checks import pager_url_check
from escalation.models import Notification, NotificationRoute, TierPolicy
from escalation.selectors import tier_policies
from escalation.services import escalation_sweep
from escalation.tasks import deliver_notifications
from hitl.services import action_submit, agent_create
from tests.conftest import free_port
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory
from tests.reviews.test_live import run, socket_for

BASE = "http://127.0.0.1:8000"


class Receiver:
    """An HTTP server on a free loopback port that records every POST and answers with the next of
    `statuses` (200 once they run out)."""

    def __init__(self):
        self.requests, self.statuses, self.lock = [], [], threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "json": json.loads(body), "body": body}
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 400 else b"receiver says no")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def to(self, path: str) -> list[dict]:
        return [r["json"] for r in self.requests if r["path"] == path]


@pytest.fixture(autouse=True)
def routes_of_each_test(own_routes_only):
    """Each test here sets the routes it needs."""


@pytest.fixture(autouse=True)
def notify_settings(settings):
    settings.HITL_BASE_URL, settings.HITL_PAGER_URL, settings.HITL_NOTIFY_MAX_ATTEMPTS = BASE, "", 5


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def desk(db):
    groups = {
        key: ReviewerGroupFactory(key=key, rank=rank) for key, rank in (("team", 1), ("lead", 2), ("executive", 3))
    }
    people = {name: UserFactory(username=name) for name in ("tina", "leo")}
    groups["team"].members.add(people["tina"])
    groups["lead"].members.add(people["leo"])
    email = ActionTypeFactory()
    agent, _ = agent_create(name="support-bot")

    def submit(summary="Email Jane about her $40 refund"):
        action = action_submit(agent=agent, action_type=email, payload={"to": "jane@example.com", "subject": "Hi"},
                               summary=summary, confidence=0.9)  # fmt: skip
        assert (action.status, action.route_tier, action.reviewer_group) == ("pending", "tier1", "team")
        return action

    return people, submit


@pytest.fixture
def enqueued(monkeypatch):
    """The ids each delivery task is enqueued with after commit (nothing reaches the broker)."""
    calls = []
    monkeypatch.setattr(notify, "_deliver_later", calls.append)
    return calls


def test_recording_queues_the_delivery_task_by_its_registered_name():
    assert notify.DELIVER_TASK == deliver_notifications.name


@pytest.fixture
def fast_retries(settings):
    settings.HITL_NOTIFY_BACKOFF_SECONDS = 0  # eager retries never wait anyway; a worker would not either


def route(group, event, channel, target=""):
    return NotificationRoute.objects.create(reviewer_group=group, event=event, channel=channel, target=target)


def announce(items, capture):
    """Record notifications as the sweep does, in a transaction; return the ids enqueued after commit."""
    with capture(execute=True):
        with transaction.atomic():
            notify.notifications_create(items=items)


def deliver(ids):
    """Run the delivery task here and now, its retries included (eagerly, without their countdown)."""
    return deliver_notifications.apply(args=[ids]).get()


def audited(*types):
    return list(
        AuditEvent.objects.filter(event_type__in=types).order_by("id").values_list("event_type", "actor_type", "data")
    )


def test_a_new_item_reaches_email_slack_webhook_and_the_group_once(
    desk, receiver, enqueued, django_capture_on_commit_callbacks
):
    _, submit = desk
    route("team", "new_item", "email", "oncall@example.com, lead@example.com")
    route("team", "new_item", "slack", receiver.url("/slack"))
    route("team", "new_item", "webhook", receiver.url("/hook"))
    route("team", "new_item", "inapp")
    route("team", "warning", "webhook", receiver.url("/warnings"))  # another event
    route("lead", "new_item", "webhook", receiver.url("/leads"))  # another group
    NotificationRoute.objects.create(reviewer_group="team", event="new_item", channel="webhook",
                                     target=receiver.url("/off"), is_active=False)  # fmt: skip
    action = submit()
    url = f"{BASE}/reviews/{action.pk}/"

    announce([(action, "new_item")], django_capture_on_commit_callbacks)
    rows = Notification.objects.filter(action=action)
    assert sorted(rows.values_list("channel", flat=True)) == ["email", "inapp", "slack", "webhook"]
    assert set(rows.values_list("status", "attempts")) == {("pending", 0)}
    assert enqueued == [sorted(rows.values_list("pk", flat=True))]

    deliver(enqueued[0])

    [email] = mail.outbox
    assert email.to == ["oncall@example.com", "lead@example.com"]
    assert email.subject == "[HITL tier1] New item waiting: Email Jane about her $40 refund"
    assert url in email.body and f"Deadline: {action.due_at:%Y-%m-%d %H:%M} UTC" in email.body

    [slack] = receiver.to("/slack")
    assert "Email Jane about her $40 refund" in slack["text"] and url in slack["text"]
    header, summary, facts, buttons = slack["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "New item waiting"}}
    assert summary["text"]["text"] == f"*<{url}|Email Jane about her $40 refund>*"
    fields = [f["text"] for f in facts["fields"]]
    assert "*Tier*\ntier1 (team)" in fields
    assert f"<!date^{int(action.due_at.timestamp())}^" in fields[1]
    assert buttons["elements"][0]["type"] == "button" and buttons["elements"][0]["url"] == url

    assert receiver.to("/hook") == [
        {"event": "new_item", "action_id": str(action.pk), "summary": "Email Jane about her $40 refund",
         "tier": "tier1", "group": "team", "due_at": action.due_at.isoformat(), "url": url}
    ]  # fmt: skip
    assert receiver.to("/warnings") == receiver.to("/leads") == receiver.to("/off") == []

    assert set(rows.values_list("status", "attempts")) == {("sent", 1)}
    assert all(row.sent_at for row in rows)
    sent = audited("notification_sent")
    assert sorted(data["channel"] for _, _, data in sent) == ["email", "inapp", "slack", "webhook"]
    assert {actor for _, actor, _ in sent} == {"system"}
    slack_event = next(data for _, _, data in sent if data["channel"] == "slack")
    assert slack_event["target"].startswith("http://127.0.0.1/… (sha256:")  # a webhook URL's path is its secret

    # Delivered again (a redelivered task), or recorded again (a sweep that ran twice): nothing more.
    deliver(enqueued[0])
    announce([(action, "new_item")], django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1 and len(receiver.requests) == 2
    assert rows.count() == 4 and len(enqueued) == 1
    assert len(audited("notification_sent")) == 4


def test_each_sla_event_notifies_the_group_it_concerns_and_tier3_pages(
    desk, receiver, enqueued, settings, django_capture_on_commit_callbacks
):
    _, submit = desk
    settings.HITL_PAGER_URL, settings.HITL_PAGER_ROUTING_KEY = receiver.url("/pager"), "routing-key-1"
    route("team", "new_item", "email", "team@example.com")
    route("team", "warning", "webhook", receiver.url("/team-warnings"))
    route("lead", "escalation", "slack", receiver.url("/lead-slack"))
    route("executive", "breach", "webhook", receiver.url("/exec"))
    action = submit()
    assert [step["page"] for step in action.escalation_path] == [False, False, True]

    with django_capture_on_commit_callbacks(execute=True):
        while action.sla_next_at is not None:  # the sweep, at each moment something falls due
            escalation_sweep(now=action.sla_next_at)
            action.refresh_from_db()
    assert action.status == "expired"
    rows = Notification.objects.filter(action=action).order_by("pk")
    assert list(rows.values_list("event", "channel", "tier", "reviewer_group")) == [
        ("new_item", "email", "tier1", "team"),
        ("warning", "webhook", "tier1", "team"),  # at 50, 75 and 90 % of the SLA: one each
        ("warning", "webhook", "tier1", "team"),
        ("warning", "webhook", "tier1", "team"),
        ("escalation", "slack", "tier2", "lead"),  # the new group hears of it
        ("escalation", "pager", "tier3", "executive"),  # into tier3, which pages
        ("breach", "webhook", "tier3", "executive"),
        ("breach", "pager", "tier3", "executive"),
    ]
    assert sorted(pk for ids in enqueued for pk in ids) == list(rows.values_list("pk", flat=True))

    for ids in enqueued:
        deliver(ids)
    assert set(rows.values_list("status", flat=True)) == {"sent"}
    assert len(mail.outbox) == 1 and len(receiver.to("/team-warnings")) == 3
    assert receiver.to("/lead-slack")[0]["blocks"][0]["text"]["text"] == "Escalated to tier2 (lead)"
    assert receiver.to("/exec")[0]["event"] == "breach"

    escalated, breached = receiver.to("/pager")
    url = f"{BASE}/reviews/{action.pk}/"
    assert escalated["dedup_key"] == f"hitl-{action.pk}-escalation"
    assert breached == {
        "routing_key": "routing-key-1",
        "event_action": "trigger",
        "dedup_key": f"hitl-{action.pk}-breach",
        "payload": {
            "summary": "SLA breached at tier3: expired: Email Jane about her $40 refund",
            "source": "hitl",
            "severity": "critical",
            "component": "send_email",
            "group": "executive",
            "custom_details": {
                "event": "breach",
                "action_id": str(action.pk),
                "summary": "Email Jane about her $40 refund",
                "tier": "tier3",
                "group": "executive",
                "due_at": action.due_at.isoformat(),
                "url": url,
                "agent": "support-bot",
                "deadline": f"{action.due_at:%Y-%m-%d %H:%M} UTC",
            },  # fmt: skip
        },
        "links": [{"href": url, "text": "Review"}],
    }


def test_no_pager_url_no_page(desk, enqueued, django_capture_on_commit_callbacks):
    _, submit = desk
    action = submit()
    action.escalation_step, action.route_tier, action.reviewer_group = 2, "tier3", "executive"
    announce([(action, "escalation"), (action, "breach")], django_capture_on_commit_callbacks)
    assert not Notification.objects.exists() and enqueued == []


def test_a_failing_receiver_is_retried_with_backoff_then_marked_failed(
    desk, receiver, enqueued, fast_retries, django_capture_on_commit_callbacks
):
    _, submit = desk
    route("team", "new_item", "webhook", receiver.url("/hook"))
    action = submit()
    announce([(action, "new_item")], django_capture_on_commit_callbacks)
    receiver.statuses = [500] * 10

    deliver(enqueued[0])

    row = Notification.objects.get()
    assert (row.status, row.attempts, row.sent_at) == ("failed", 5, None)
    assert row.last_error == "HTTP 500: receiver says no"
    assert len(receiver.to("/hook")) == 5
    [(_, actor, data)] = audited("notification_failed", "notification_sent")
    assert actor == "system" and data["attempts"] == 5 and data["error"] == "HTTP 500: receiver says no"
    deliver(enqueued[0])  # a failed notification stays failed
    assert len(receiver.requests) == 5


@pytest.mark.parametrize("refusal, attempts", [(404, 1), (410, 1), (400, 1), (429, 2), (408, 2)])
def test_a_receiver_that_refuses_the_request_is_not_asked_again(
    desk, receiver, enqueued, fast_retries, django_capture_on_commit_callbacks, refusal, attempts
):
    _, submit = desk
    route("team", "new_item", "webhook", receiver.url("/gone"))
    action = submit()
    announce([(action, "new_item")], django_capture_on_commit_callbacks)
    receiver.statuses = [refusal]  # then 200: only "slow down" and "timed out" are worth a retry

    deliver(enqueued[0])

    row = Notification.objects.get()
    assert (row.status, row.attempts) == ("failed" if attempts == 1 else "sent", attempts)
    assert len(receiver.requests) == attempts and row.last_error == f"HTTP {refusal}: receiver says no"
    if attempts == 1:
        [(_, _, data)] = audited("notification_failed", "notification_sent")
        assert data["attempts"] == 1 and data["error"] == f"HTTP {refusal}: receiver says no"


@pytest.mark.parametrize(
    "reply, attempts, status",
    [(b"550 5.1.1 No such user", 1, "failed"), (b"451 4.7.1 Greylisted, try again later", 2, "sent")],
)
def test_an_email_whose_recipients_are_all_refused_for_good_is_not_retried(
    desk, enqueued, fast_retries, django_capture_on_commit_callbacks, settings, reply, attempts, status
):
    refused = []

    class RefusingSMTP(socketserver.StreamRequestHandler):
        """An SMTP server that refuses the first recipient with `reply`, and accepts the rest."""

        def handle(self):
            self.wfile.write(b"220 test ESMTP\r\n")
            for line in self.rfile:
                command = line[:4].upper()
                if command == b"RCPT" and not refused:
                    refused.append(line)
                    self.wfile.write(reply + b"\r\n")
                elif command == b"DATA":
                    self.wfile.write(b"354 Go ahead\r\n")
                    for data in self.rfile:
                        if data == b".\r\n":
                            break
                    self.wfile.write(b"250 Queued\r\n")
                elif command == b"QUIT":
                    self.wfile.write(b"221 Bye\r\n")
                    return
                else:  # EHLO, MAIL, RCPT, RSET
                    self.wfile.write(b"250 OK\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), RefusingSMTP)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.server_address[1]
    try:
        _, submit = desk
        route("team", "new_item", "email", "nobody@example.com")
        announce([(submit(), "new_item")], django_capture_on_commit_callbacks)
        deliver(enqueued[0])
    finally:
        server.shutdown()
        server.server_close()
    row = Notification.objects.get()
    assert (row.status, row.attempts) == (status, attempts)
    assert row.last_error.startswith("SMTPRecipientsRefused") and reply[4:].decode() in row.last_error


def test_a_receiver_that_recovers_gets_the_notification_once(
    desk, receiver, enqueued, fast_retries, django_capture_on_commit_callbacks
):
    _, submit = desk
    route("team", "new_item", "webhook", receiver.url("/hook"))
    route("team", "new_item", "email", "team@example.com")
    action = submit()
    announce([(action, "new_item")], django_capture_on_commit_callbacks)
    receiver.statuses = [503, 500]

    deliver(enqueued[0])

    assert dict(Notification.objects.values_list("channel", "attempts")) == {"webhook": 3, "email": 1}
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    assert Notification.objects.get(channel="webhook").last_error == "HTTP 500: receiver says no"
    assert len(receiver.requests) == 3 and len(mail.outbox) == 1
    assert len(audited("notification_sent")) == 2 and not audited("notification_failed")


def test_the_backoff_doubles(settings):
    settings.HITL_NOTIFY_BACKOFF_SECONDS = 10
    assert [delivery.retry_delay(n) for n in range(6)] == [10, 20, 40, 80, 160, 300]


def test_a_notification_claimed_by_another_worker_is_not_sent_until_its_claim_lapses(
    desk, receiver, enqueued, django_capture_on_commit_callbacks
):
    _, submit = desk
    route("team", "new_item", "webhook", receiver.url("/hook"))
    action = submit()
    announce([(action, "new_item")], django_capture_on_commit_callbacks)
    [pk] = enqueued[0]
    assert delivery._claim(pk) is not None  # another worker is sending it

    assert delivery.notification_deliver(notification_id=pk) == delivery.BUSY
    assert receiver.requests == []

    Notification.objects.filter(pk=pk).update(claimed_until=timezone.now() - timedelta(seconds=1))  # it died
    assert delivery.notification_deliver(notification_id=pk) == delivery.SENT
    assert Notification.objects.values_list("status", "attempts").get() == ("sent", 2)
    assert len(receiver.requests) == 1
    assert delivery.notification_deliver(notification_id=pk) == delivery.DONE


def test_an_unreachable_receiver_records_the_error(desk, enqueued, fast_retries, django_capture_on_commit_callbacks):
    _, submit = desk
    route("team", "new_item", "webhook", f"http://127.0.0.1:{free_port()}/nobody")
    action = submit()
    announce([(action, "new_item")], django_capture_on_commit_callbacks)
    deliver(enqueued[0])
    row = Notification.objects.get()
    assert (row.status, row.attempts) == ("failed", 5) and row.last_error.startswith("ConnectError")


def test_a_target_at_a_private_address_is_refused_for_good(
    desk, receiver, enqueued, settings, django_capture_on_commit_callbacks
):
    _, submit = desk
    route("team", "new_item", "webhook", "http://169.254.169.254/latest/meta-data/")
    route("team", "new_item", "slack", receiver.url("/slack"))
    settings.HITL_OUTBOUND_ALLOW = ""  # the receiver's loopback address is refused too
    announce([(submit(), "new_item")], django_capture_on_commit_callbacks)
    deliver(enqueued[0])
    rows = dict(Notification.objects.values_list("channel", "last_error"))
    assert rows == {
        "webhook": "Refused: 169.254.169.254 is a cloud metadata address; only public addresses may be called.",
        "slack": "Refused: 127.0.0.1 is a loopback address; only public addresses may be called.",
    }
    assert set(Notification.objects.values_list("status", "attempts")) == {("failed", 1)}
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_an_in_app_toast_reaches_the_groups_reviewers_only(desk, enqueued):
    people, submit = desk
    route("team", "new_item", "inapp")
    tina, leo = socket_for(people["tina"]), socket_for(people["leo"])  # leo (lead) sees tier1 rows, not team toasts

    def announce_and_deliver():
        action = submit()
        with transaction.atomic():
            notify.notifications_create(items=[(action, "new_item")])
        deliver(enqueued[0])
        return action

    async def toasts(socket, seconds):
        found = []
        while not await socket.receive_nothing(timeout=seconds):
            message = await socket.receive_json_from()
            if message["op"] == "toast":
                found.append(message)
        return found

    async def scenario():
        assert (await tina.connect())[0] and (await leo.connect())[0]
        action = await sync_to_async(announce_and_deliver)()
        [toast] = await toasts(tina, 1.5)
        due = f"{action.due_at:%Y-%m-%d %H:%M} UTC"
        assert toast == {
            "op": "toast",
            "url": f"/reviews/{action.pk}/",
            "text": f"New item waiting: Email Jane about her $40 refund (tier1, due {due})",
        }
        assert await toasts(leo, 0.5) == []
        await tina.disconnect()
        await leo.disconnect()

    run(scenario())
    assert Notification.objects.values_list("status", "attempts").get() == ("sent", 1)


# Admin: routes, tier policies and the pager URL are checked before they are used.


@pytest.fixture
def admin_client(client, desk):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def route_form(**overrides):
    return {"reviewer_group": "team", "event": "breach", "channel": "slack", "target": "", "is_active": "on",
            **overrides}  # fmt: skip


@pytest.mark.parametrize(
    "form,message",
    [
        ({"target": "http://hooks.slack.com/services/T0/B0/x"}, "A Slack webhook URL must be an https:// URL"),
        ({"target": "not a url"}, "A Slack webhook URL must be an https:// URL"),
        ({"channel": "webhook", "target": "ftp://example.com/hook"}, "A webhook URL must be an http:// or https://"),
        ({"channel": "email", "target": "oncall@example.com, not-an-address"}, "Not an email address: not-an-address"),
        ({"channel": "email", "target": ""}, "Give at least one email address"),
        ({"channel": "inapp", "target": "https://example.com"}, "leave the target empty"),
        ({"reviewer_group": "nobody", "target": "https://hooks.slack.com/x"}, "No reviewer group"),
        ({"channel": "webhook", "target": "http://10.0.0.1/hook"}, "10.0.0.1 is a private address"),
        ({"target": "https://169.254.169.254/latest"}, "169.254.169.254 is a cloud metadata address"),
    ],
)
def test_admin_refuses_a_route_that_cannot_work(admin_client, form, message):
    response = admin_client.post("/admin/escalation/notificationroute/add/", route_form(**form))
    assert response.status_code == 200 and message in response.content.decode()
    assert not NotificationRoute.objects.exists()


@pytest.mark.parametrize(
    "debug,target", [(False, "https://hooks.slack.com/services/T0/B0/x"), (True, "http://127.0.0.1:9/x")]
)
def test_admin_accepts_an_https_slack_url_and_http_only_under_debug(admin_client, settings, debug, target):
    settings.DEBUG = debug
    response = admin_client.post("/admin/escalation/notificationroute/add/", route_form(target=target))
    assert response.status_code == 302, response.content
    assert NotificationRoute.objects.get().target == target


def test_admin_tidies_email_addresses(admin_client):
    form = route_form(channel="email", target="a@example.com,b@example.com  c@example.com")
    assert admin_client.post("/admin/escalation/notificationroute/add/", form).status_code == 302
    assert NotificationRoute.objects.get().target == "a@example.com, b@example.com, c@example.com"


def tier_form(policy, **overrides):
    fields = {
        "tier": policy.tier,
        "sla": "04:00:00",
        "approver_group": policy.approver_group,
        "warn_at": policy.warn_at,
        "on_breach": policy.on_breach,
        "escalate_to": str(policy.escalate_to_id or ""),
    }
    if policy.page:
        fields["page"] = "on"
    fields.update(overrides)
    return fields


@pytest.mark.parametrize(
    "tier,form,message",
    [
        ("tier1", {"sla": "0"}, "An SLA must be longer than zero."),
        ("tier1", {"sla": "-01:00:00"}, "An SLA must be longer than zero."),
        ("tier3", {"on_breach": "escalate", "escalate_to": "tier1"}, "This makes the escalation chain a cycle."),
        ("tier2", {"escalate_to": "tier2"}, "This makes the escalation chain a cycle."),
    ],
)
def test_admin_refuses_a_tier_policy_that_cannot_work(admin_client, tier, form, message):
    policies = tier_policies()
    if "escalate_to" in form:
        form["escalate_to"] = str(policies[form["escalate_to"]].pk)
    policy = policies[tier]
    response = admin_client.post(f"/admin/escalation/tierpolicy/{policy.pk}/change/", tier_form(policy, **form))
    assert response.status_code == 200 and message in response.content.decode()
    assert TierPolicy.objects.get(pk=policy.pk).sla == policy.sla
    assert not AuditEvent.objects.filter(event_type="policy_changed").exists()


def test_a_tier_policy_change_in_admin_is_audited(admin_client):
    policy = tier_policies()["tier1"]
    response = admin_client.post(f"/admin/escalation/tierpolicy/{policy.pk}/change/", tier_form(policy, sla="02:00:00"))
    assert response.status_code == 302, response.content
    assert TierPolicy.objects.get(pk=policy.pk).sla == timedelta(hours=2)
    assert AuditEvent.objects.get(event_type="policy_changed").data["model"] == "escalation.TierPolicy"


def test_the_admin_lists_notifications_read_only(
    admin_client, desk, receiver, enqueued, django_capture_on_commit_callbacks
):
    _, submit = desk
    route("team", "new_item", "slack", receiver.url("/services/T0/B0/secret"))
    announce([(submit(), "new_item")], django_capture_on_commit_callbacks)
    page = admin_client.get("/admin/escalation/notification/?status__exact=pending").content.decode()
    assert "Slack incoming webhook" in page and "/services/T0/B0/secret" not in page
    assert admin_client.get("/admin/escalation/notification/add/").status_code == 403


@pytest.mark.parametrize(
    "debug,url,key,ids",
    [
        (False, "", "", []),
        (False, "http://events.pagerduty.example/v2/enqueue", "k", ["escalation.E001"]),
        (False, "not a url", "k", ["escalation.E001"]),
        (True, "http://127.0.0.1:9/v2/enqueue", "k", []),
        (False, "https://events.pagerduty.com/v2/enqueue", "k", []),
        (False, "https://events.pagerduty.com/v2/enqueue", "", ["escalation.W001"]),
    ],
)
def test_the_pager_url_is_checked_at_startup(settings, debug, url, key, ids):
    settings.DEBUG, settings.HITL_PAGER_URL, settings.HITL_PAGER_ROUTING_KEY = debug, url, key
    assert [problem.id for problem in pager_url_check(None)] == ids


def test_a_notification_whose_task_was_lost_is_queued_again_once_every_retry_has_passed(
    desk, enqueued, django_capture_on_commit_callbacks
):
    _, submit = desk
    route("team", "new_item", "email", "team@example.com")
    action = submit()
    announce([(action, "new_item")], django_capture_on_commit_callbacks)
    (row,) = Notification.objects.all()
    assert enqueued == [[row.pk]]
    assert notify.notifications_redeliver_stranded() == 0  # recent: its task may still be on its way
    Notification.objects.filter(pk=row.pk).update(created_at=row.created_at - timedelta(hours=1))
    assert notify.notifications_redeliver_stranded() == 1
    assert enqueued == [[row.pk], [row.pk]]
    deliver([row.pk])
    Notification.objects.filter(pk=row.pk).update(created_at=row.created_at - timedelta(hours=1))
    assert notify.notifications_redeliver_stranded() == 0  # sent: never again
