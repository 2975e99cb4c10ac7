"""The flows of tests/hitl/test_audit_coverage.py, driven as a user drives them, and the Trail
that notes which audit events each of their steps inserted."""

import io
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Max
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from calibration.models import ThresholdProposal
from escalation import notify
from escalation.models import NotificationRoute
from escalation.selectors import tier_policies
from escalation.services import escalation_sweep
from escalation.tasks import deliver_notifications
from hitl.models import Action, ActionType, Agent, LoginLockout, PolicyRule
from hitl.policy import routing_settings
from hitl.services import action_submit, agent_create, token_issue
from reviews.models import Claim, RejectReason
from tests.conftest import bearer_client, free_port, page_form, submit_body
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

Type = AuditEvent.Type
GLOBAL = None  # the events of no action: agents, tokens, policy (the global chain)
EMAIL = {"to": "jane@example.com", "subject": "Your refund", "body": "It is on its way."}

# Written only when an anchored segment ages past retention (audit_pruned) or the daily check finds
# tampering (audit_broken): tests/hitl/test_audit_chain.py drives those.
OUTSIDE_THESE_FLOWS = {Type.AUDIT_PRUNED, Type.AUDIT_BROKEN}


def last_event_id() -> int:
    return AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0


class Trail:
    """The audit events each named step of a flow inserted."""

    def __init__(self):
        self.steps: dict[str, tuple[int, int]] = {}

    @contextmanager
    def step(self, name: str):
        assert name not in self.steps, f"two steps named {name!r}"
        start = last_event_id()
        yield
        self.steps[name] = (start, last_event_id())

    def events(self, name: str, action=GLOBAL) -> list[AuditEvent]:
        """What step `name` wrote about `action` (an Action), or in the global chain (GLOBAL)."""
        start, end = self.steps[name]
        rows = AuditEvent.objects.filter(id__gt=start, id__lte=end).order_by("id")
        rows = rows.filter(action__isnull=True) if action is GLOBAL else rows.filter(action_id=action.pk)
        return list(rows.select_related("reviewer"))

    def one(self, name: str, event_type: str, action=GLOBAL) -> AuditEvent:
        """The one event step `name` wrote about `action`, asserted to be of `event_type`."""
        events = self.events(name, action)
        subject = "the global chain" if action is GLOBAL else f"action {action.pk}"
        assert [e.event_type for e in events] == [event_type], (
            f"step {name!r} wrote {[e.event_type for e in events]} for {subject}; expected exactly one {event_type}"
        )
        return events[0]

    def decided(self, name: str, event_type: str, action) -> AuditEvent:
        """The decision step `name` wrote about `action`, asserted to be `event_type` after the
        claim that a decision on an unclaimed action takes for its decider."""
        events = self.events(name, action)
        assert [e.event_type for e in events] == [AuditEvent.Type.CLAIMED, event_type], (
            f"step {name!r} wrote {[e.event_type for e in events]} for action {action.pk}; "
            f"expected claimed, then {event_type}"
        )
        claimed, decision = events
        assert claimed.reviewer == decision.reviewer and claimed.data == {"reason": "claimed to decide"}
        assert claimed.after == {"holder": decision.reviewer.get_username()}
        return decision

    def none(self, name: str, action=GLOBAL) -> None:
        written = [e.event_type for e in self.events(name, action)]
        assert written == [], f"step {name!r} should write no event, wrote {written}"

    def written(self, name: str) -> list[str]:
        """The types of every event step `name` wrote, about any action or none."""
        start, end = self.steps[name]
        return list(
            AuditEvent.objects.filter(id__gt=start, id__lte=end).order_by("id").values_list("event_type", flat=True)
        )

    def types(self) -> set[str]:
        """Every event type the steps wrote, about any action or none."""
        return {event_type for name in self.steps for event_type in self.written(name)}


@dataclass
class Scene:
    """Reviewer groups and people, action types, one agent with its API client, and the trail."""

    agent: Agent
    api: APIClient
    people: dict
    email: ActionType
    tagging: ActionType
    refund: ActionType
    capture: Callable
    trail: Trail = field(default_factory=Trail)
    enqueued: list = field(default_factory=list)

    def submit(self, summary: str, *, action_type: ActionType | None = None, **facts) -> Action:
        """A new action through the intake service the API calls (for flows that start later)."""
        fields = {"payload": dict(EMAIL), "confidence": 0.9, "action_type": action_type or self.email}
        return action_submit(agent=self.agent, summary=summary, **{**fields, **facts})

    def page(self, name: str) -> Client:
        client = Client()
        client.force_login(self.people[name])
        return client

    def token_api(self, name: str) -> APIClient:
        return bearer_client(token_issue(user=self.people[name], label="tests"))


@pytest.fixture
def scene(db, settings, monkeypatch, django_capture_on_commit_callbacks, own_routes_only):
    settings.HITL_BASE_URL, settings.HITL_PAGER_URL = "http://127.0.0.1:8000", ""
    settings.HITL_NOTIFY_MAX_ATTEMPTS, settings.HITL_NOTIFY_BACKOFF_SECONDS = 2, 0
    groups = {
        key: ReviewerGroupFactory(key=key, rank=rank) for key, rank in (("team", 1), ("lead", 2), ("executive", 3))
    }
    groups["finance"] = ReviewerGroupFactory(
        key="finance", kind="expertise", rank=0, daily_capacity=1, fallback=groups["lead"]
    )
    people = {}
    for name, group in (("tina", "team"), ("tom", "team"), ("leo", "lead"), ("eve", "executive"), ("ed", "executive"),
                        ("fiona", "finance")):  # fmt: skip
        people[name] = UserFactory(username=name)
        groups[group].members.add(people[name])
    people["root"] = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    RejectReason.objects.create(code="wrong_recipient", label="Wrong recipient")
    email = ActionTypeFactory()
    tagging = ActionTypeFactory(key="tag_ticket", name="Tag ticket", irreversible=False, payload_schema=None)
    refund = ActionTypeFactory(key="issue_refund", name="Issue refund", payload_schema=None, reviewer_group="finance")
    agent, raw = agent_create(name="support-bot")
    scene = Scene(agent, bearer_client(raw), people, email, tagging, refund, django_capture_on_commit_callbacks)
    # The delivery task runs here, once the test says so, instead of on a broker.
    monkeypatch.setattr(notify, "_deliver_later", scene.enqueued.append)
    return scene


# What every event about an action carries.


def by_agent(event: AuditEvent, agent: Agent) -> None:
    assert (event.actor_type, event.actor_label, event.reviewer_id) == ("agent", agent.name, None)


def by_reviewer(event: AuditEvent, user) -> None:
    assert (event.actor_type, event.actor_label, event.reviewer_id) == ("reviewer", user.username, user.pk)


def by_system(event: AuditEvent) -> None:
    assert (event.actor_type, event.actor_label, event.reviewer_id) == ("system", "system", None)


def about(event: AuditEvent, action: Action, *, tier: str) -> None:
    """The design's audit minimum: the action, its type, the agent's confidence, the routing tier."""
    assert event.action_id == action.pk and event.agent_id == action.agent_id
    assert (event.action_type, event.agent_confidence, event.routing_tier) == (
        action.action_type.key,
        action.confidence,
        tier,
    )
    assert event.created_at is not None


def decided_in(event: AuditEvent, decision: str) -> None:
    assert event.decision == decision
    assert event.time_to_decision_seconds is not None and event.time_to_decision_seconds >= 0


def assert_chained(events: list[AuditEvent], chain: str) -> None:
    """seq runs 1..n with no gap, in insertion order; each event links to the hash of the one before."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), f"{chain}: seq {[e.seq for e in events]}"
    assert [e.id for e in events] == sorted(e.id for e in events), f"{chain}: seq out of insertion order"
    previous = ""
    for event in events:
        assert event.prev_hash == previous, f"{chain}: event {event.id} ({event.event_type}) does not link"
        assert len(event.hash) == 64
        previous = event.hash


def assert_every_chain_whole() -> None:
    for action_id in AuditEvent.objects.values_list("action_id", flat=True).distinct():
        events = list(AuditEvent.objects.filter(action_id=action_id).order_by("seq"))
        assert_chained(events, f"action {action_id}" if action_id else "global chain")


def fresh(action: Action) -> Action:
    return Action.objects.select_related("action_type", "agent").get(pk=action.pk)


def form_decide(client: Client, action: Action, **form):
    return client.post(f"/reviews/{action.pk}/decide", {**page_form(action), **form})


def admin_action(client: Client, name: str, *agents: Agent):
    return client.post(
        "/admin/hitl/agent/",
        {"action": name, "_selected_action": [str(a.pk) for a in agents], "select_across": "0", "index": "0"},
    )


def run_command(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


# The flows. Each drives one group of changes and names its steps; the tests check what each wrote.


def intake_flow(s: Scene) -> dict:
    """The agent API: submit (with an idempotent replay), preview, cancel, wait, report an outcome."""
    steps, body = s.trail.step, submit_body()  # a VIP's irreversible email: waits in tier1
    with steps("submit"):
        first = s.api.post("/api/v1/actions", body, format="json", HTTP_IDEMPOTENCY_KEY="coverage-1")
    assert first.status_code == 201, first.content
    with steps("replay"):
        replay = s.api.post("/api/v1/actions", body, format="json", HTTP_IDEMPOTENCY_KEY="coverage-1")
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    with steps("preview"):
        assert s.api.post("/api/v1/actions/preview", body, format="json").status_code == 200
    pending = Action.objects.get(pk=first.json()["id"])
    with steps("cancel"):
        assert s.api.post(f"/api/v1/actions/{pending.pk}/cancel").status_code == 200
    with steps("wait"):
        waited = s.api.get(f"/api/v1/actions/{pending.pk}?wait=2")
    assert waited.status_code == 200 and waited.json()["status"] == "cancelled"

    tag = submit_body(action_type="tag_ticket", payload={"tag": "refund"}, entity={}, confidence=0.99)
    with steps("submit a first of its type"):  # novelty: waits for a human
        novel = s.api.post("/api/v1/actions", tag, format="json")
    with steps("submit autonomous"):
        autonomous = s.api.post("/api/v1/actions", tag, format="json")
    with steps("submit post-action"):
        post = s.api.post("/api/v1/actions", {**tag, "confidence": 0.65}, format="json")
    assert {novel.status_code, autonomous.status_code, post.status_code} == {201}
    ran = Action.objects.get(pk=autonomous.json()["id"])
    with steps("outcome"):
        reported = s.api.post(
            f"/api/v1/actions/{ran.pk}/outcome", {"outcome": "executed", "detail": {"n": 1}}, format="json"
        )
    assert reported.status_code == 200, reported.content
    return {
        "pending": pending,
        "novel": Action.objects.get(pk=novel.json()["id"]),
        "autonomous": ran,
        "post": Action.objects.get(pk=post.json()["id"]),
    }


def claims_flow(s: Scene) -> dict:
    """Claim, renew, take over (a lead), release, claim the next most urgent, from the pages."""
    action = s.submit("Email Jane about her refund")
    tina, leo = s.page("tina"), s.page("leo")
    with s.trail.step("claim"):
        assert tina.post(f"/reviews/{action.pk}/claim").status_code == 302
    with s.trail.step("renew"):
        assert tina.post(f"/reviews/{action.pk}/claim").status_code == 302
    with s.trail.step("take over"):
        assert leo.post(f"/reviews/{action.pk}/take-over").status_code == 302
    with s.trail.step("release"):
        assert leo.post(f"/reviews/{action.pk}/release").status_code == 302
    with s.trail.step("claim next"):
        assert tina.post("/reviews/next").status_code == 302
    return {"action": action}


def decisions_flow(s: Scene) -> dict:
    """Approve (API), modify (page form), reject with a reason (API), and a four-eyes tier3 action
    approved with an edit by one executive and then by another (page forms)."""
    approved, modified, rejected = (s.submit(f"Email Jane #{i}") for i in range(3))
    four_eyes = s.submit("Wire $1M", compliance_risk=True)  # tier3: two approvers
    api = s.token_api("tina")
    with s.trail.step("approve"):
        response = api.post(
            f"/api/v1/actions/{approved.pk}/decision", {"decision": "approve", "comment": "ok"}, format="json"
        )
    assert response.status_code == 200, response.content
    with s.trail.step("modify"):
        edit = {"payload/to": "jane@example.com", "payload/subject": "Your $40 refund", "payload/body": "On its way."}
        assert form_decide(s.page("tina"), modified, decision="modify", **edit).status_code == 302
    with s.trail.step("reject"):
        body = {"decision": "reject", "reason": "wrong_recipient", "comment": "Jane asked for paper mail"}
        assert api.post(f"/api/v1/actions/{rejected.pk}/decision", body, format="json").status_code == 200
    with s.trail.step("first of two approvals"):
        edit = {"payload/to": "jane@example.com", "payload/subject": "Checked", "payload/body": "It is on its way."}
        assert form_decide(s.page("eve"), four_eyes, decision="modify", **edit).status_code == 302
    with s.trail.step("second approval"):
        assert form_decide(s.page("ed"), four_eyes, decision="approve").status_code == 302
    return {"approved": approved, "modified": modified, "rejected": rejected, "four_eyes": four_eyes}


def post_action_flow(s: Scene) -> dict:
    """Confirm and flag actions that ran before review, from the page form; the flagged one's agent
    reports it compensated."""
    s.submit("Warm-up", action_type=s.tagging, payload={}, confidence=0.99)  # not a first of its type then
    confirmed, flagged = (
        s.submit(f"Tag ticket {n} urgent", action_type=s.tagging, payload={"tag": "urgent"}, confidence=0.65)
        for n in (881, 882)
    )
    assert (confirmed.route_pattern, flagged.route_pattern) == ("post_action", "post_action")
    tina = s.page("tina")
    with s.trail.step("confirm"):
        assert form_decide(tina, confirmed, decision="confirm").status_code == 302
    with s.trail.step("flag"):
        assert form_decide(tina, flagged, decision="flag", comment="Ticket 882 is not urgent").status_code == 302
    with s.trail.step("compensate"):
        body = {"outcome": "compensated", "detail": {"tag_removed": True}}
        assert s.api.post(f"/api/v1/actions/{flagged.pk}/outcome", body, format="json").status_code == 200
    return {"confirmed": confirmed, "flagged": flagged}


def reassign_flow(s: Scene) -> dict:
    """A lead sends a waiting team action to the finance experts."""
    action = s.submit("Email Jane about the refund amount")
    with s.trail.step("reassign"):
        assert s.page("leo").post(f"/reviews/{action.pk}/reassign", {"group": "finance"}).status_code == 302
    return {"action": action}


def notifications_flow(s: Scene) -> dict:
    """A new item is announced (no event) to email (delivered) and a webhook nobody answers (failed
    after its last attempt); each delivery records one event when it ends."""
    NotificationRoute.objects.create(
        reviewer_group="team", event="new_item", channel="email", target="team@example.com"
    )
    NotificationRoute.objects.create(
        reviewer_group="team", event="new_item", channel="webhook", target=f"http://127.0.0.1:{free_port()}/hook"
    )
    action = s.submit("Email Jane: new item for the team")
    queued = len(s.enqueued)
    with s.trail.step("announce with notifications"):
        with s.capture(execute=True):
            escalation_sweep()
    with s.trail.step("deliver"):
        for ids in s.enqueued[queued:]:
            deliver_notifications.apply(args=[ids]).get()
    return {"action": action}


def sweep_flow(s: Scene) -> dict:
    """The SLA sweep at the moments things fall due: announce (no event), release a lapsed claim,
    expire a tier3 action, warn, escalate, close a post-action review window."""
    waiting = s.submit("Email Jane (tier1)")
    paged = s.submit("Wire $1M (tier3)", compliance_risk=True)
    held = s.submit("Email Jane (held by tina)")
    s.submit("Warm-up", action_type=s.tagging, payload={}, confidence=0.99)
    s.tagging.review_window = timedelta(hours=24)  # so that it closes after tier1's escalation below
    s.tagging.save(update_fields=["review_window"])
    ran = s.submit("Tag ticket 883", action_type=s.tagging, payload={"tag": "later"}, confidence=0.65)
    assert ran.route_pattern == "post_action"
    assert s.page("tina").post(f"/reviews/{held.pk}/claim").status_code == 302
    second = timedelta(seconds=1)
    with s.trail.step("announce"):
        escalation_sweep()
    with s.trail.step("release lapsed claim"):
        escalation_sweep(now=Claim.objects.get(action=held).expires_at + second)
    with s.trail.step("expire"):
        escalation_sweep(now=fresh(paged).due_at + second)
    with s.trail.step("warn"):
        escalation_sweep(now=fresh(waiting).sla_next_at + second)
    with s.trail.step("escalate"):
        escalation_sweep(now=fresh(waiting).due_at + second)
    escalated = fresh(waiting)  # as the escalation left it (the last sweep moves it on again)
    with s.trail.step("close review window"):
        escalation_sweep(now=ran.due_at + second)
    return {"waiting": waiting, "paged": paged, "held": held, "ran": ran, "escalated": escalated}


def overflow_flow(s: Scene) -> dict:
    """finance takes one new item a day: the sweep sends the next one to its fallback, lead."""
    refunds = [s.submit(f"Refund #{n}", action_type=s.refund, payload={"amount": n}) for n in (40, 60)]
    assert {a.reviewer_group for a in refunds} == {"finance"}
    with s.trail.step("overflow"):
        escalation_sweep()
    return {"refunds": refunds}


def policy_flow(s: Scene) -> dict:
    """Admins tune routing in Django admin: a type's threshold, the settings, a rule (added, changed,
    deleted), the expertise table, a tier's policy; a threshold proposal run in shadow, then rejected."""
    admin = s.page("root")
    email_form = {
        "key": "send_email", "name": "Send email", "domain": "comms", "irreversible": "on",
        "payload_schema": "null", "threshold": "0.9", "audit_sample_rate": "0.02", "error_cost": "1",
        "review_window": "04:00:00",
        "is_active": "on",
    }  # fmt: skip
    settings_form = {
        "blast_high": "100", "blast_tier3": "10000", "interrupt_factor": "0.7", "tier2_confidence": "0.6",
        "sensitive_tags": "vip, board", "novelty": "on", "approvals_tier1": "1", "approvals_tier2": "1",
        "approvals_tier3": "2",
    }  # fmt: skip
    rule_form = {"name": "comms to leads", "priority": "10", "is_active": "on", "domain": "comms", "min_tier": "tier2"}
    tiers = tier_policies()
    tier1_form = {
        "tier": "tier1", "sla": "04:00:00", "approver_group": "team", "warn_at": "50,90", "on_breach": "escalate",
        "escalate_to": str(tiers["tier2"].pk),
    }  # fmt: skip
    posts = [
        ("change action type", f"/admin/hitl/actiontype/{s.email.pk}/change/", email_form),
        ("change routing settings", f"/admin/hitl/routingsettings/{routing_settings().pk}/change/", settings_form),
        ("add rule", "/admin/hitl/policyrule/add/", rule_form),
        ("change rule", None, {**rule_form, "min_tier": "tier3"}),
        ("delete rule", None, {"post": "yes"}),
        ("add expertise route", "/admin/hitl/expertiseroute/add/", {"domain": "finance", "reviewer_group": "finance"}),
        ("change tier policy", f"/admin/escalation/tierpolicy/{tiers['tier1'].pk}/change/", tier1_form),
    ]
    for name, url, form in posts:
        if url is None:  # the rule added above
            rule = PolicyRule.objects.get(name="comms to leads")
            url = f"/admin/hitl/policyrule/{rule.pk}/{name.split()[0]}/"
        with s.trail.step(name):
            response = admin.post(url, form)
        assert response.status_code == 302, (name, response.content.decode()[:2000])
    proposal = ThresholdProposal.objects.create(  # as the schedule makes one (tests/calibration)
        action_type=s.email, created_at=timezone.now(), current_threshold=0.9, proposed_threshold=0.8,
        interval=[0.78, 0.83], labels=60, mapping=[], capacity=40, replay={},
    )  # fmt: skip
    for name in ("shadow", "reject"):
        with s.trail.step(f"{name} proposal"):
            response = admin.post(
                "/admin/calibration/thresholdproposal/", {"action": name, "_selected_action": [proposal.pk]}
            )
        assert response.status_code == 302, (name, response.content.decode()[:2000])
    return {"proposal": proposal}


def agents_flow(s: Scene) -> dict:
    """The operator creates an agent (CLI), an admin issues it a token and revokes its tokens, a
    reviewer is created with a token (CLI), an admin adds an agent in Django admin."""
    admin = s.page("root")
    with s.trail.step("create agent"):
        run_command("create_agent", "billing-bot")
    billing = Agent.objects.get(name="billing-bot")
    with s.trail.step("issue token in admin"):
        assert admin_action(admin, "issue_token", billing).status_code == 302
    with s.trail.step("revoke tokens in admin"):
        assert admin_action(admin, "revoke_tokens", billing).status_code == 302
    with s.trail.step("create reviewer"):
        run_command("create_reviewer", "rita", "--password", "s3cret-pass", "--groups", "team")
    add_form = {"name": "crm-bot", "description": "Updates the CRM", "is_active": "on"}
    add_form |= {f"tokens-{k}": "0" for k in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")}
    with s.trail.step("add agent in admin"):
        response = admin.post("/admin/hitl/agent/add/", add_form)
    assert response.status_code == 302, response.content.decode()[:2000]
    crm = Agent.objects.get(name="crm-bot")
    change_form = {**add_form, "is_active": ""}  # unticked
    with s.trail.step("deactivate agent in admin"):
        response = admin.post(f"/admin/hitl/agent/{crm.pk}/change/", change_form)
    assert response.status_code == 302, response.content.decode()[:2000]
    with s.trail.step("export the audit trail"):
        response = admin.get("/api/v1/audit/events", {"agent": "crm-bot", "format": "csv"})
        assert response.status_code == 200
        b"".join(response.streaming_content) if not response.is_async else None
    with s.trail.step("export training data"):
        assert admin.get("/api/v1/training-data", {"agent": "crm-bot"}).status_code == 200
    return {"billing": billing, "crm": crm}


def logins_flow(s: Scene) -> dict:
    """Wrong passwords on the login page lock tina's account out (one event, however many attempts
    it then refuses); an admin lifts the lockout in Django admin."""
    browser = Client()
    wrong = {"username": "tina", "password": "not-her-password"}
    with s.trail.step("lock out"):
        for _ in range(settings.HITL_LOGIN_FAILURES_PER_ACCOUNT):
            response = browser.post("/accounts/login/", wrong)
    assert response.status_code == 429, response.content.decode()[:2000]
    with s.trail.step("refused while locked out"):
        assert browser.post("/accounts/login/", wrong).status_code == 429
    lockout = LoginLockout.objects.get(scope="account", key="tina")
    with s.trail.step("lift lockout in admin"):
        form = {"action": "lift", "_selected_action": [lockout.pk]}
        response = s.page("root").post("/admin/hitl/loginlockout/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    return {"lockout": lockout}


FLOWS = [  # every flow above, in an order they can run one after another in one database
    intake_flow,
    claims_flow,
    decisions_flow,
    post_action_flow,
    reassign_flow,
    notifications_flow,
    sweep_flow,
    overflow_flow,
    policy_flow,
    agents_flow,
    logins_flow,
]
