"""Every state change writes exactly one audit event, through the flow a user really takes.

Each flow below is driven as in production (the agent API, the reviewer pages and their form
POSTs, Django admin, the operator's commands, the SLA sweep and the notification task) and notes,
step by step, which audit events the step inserted (the events with ids between the step's start
and its end). The tests then check that each step wrote exactly the one event it should, for its
action (or, for agents, tokens and policy, in the global chain), with its actor, the design's audit
minimum and its before/after. The last test runs every flow in one database and checks that the
flows, together, wrote every event type there is.
"""

import io
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Max
from django.test import Client
from rest_framework.test import APIClient

from escalation.models import NotificationRoute
from escalation.selectors import tier_policies
from escalation.services import escalation_sweep
from escalation.tasks import deliver_notifications
from hitl.models import Action, ActionType, Agent, ApiToken, AuditEvent, PolicyRule
from hitl.policy import routing_settings
from hitl.services import action_submit, agent_create, token_issue
from reviews.models import Claim, RejectReason
from tests.conftest import bearer_client, free_port, submit_body
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

Type = AuditEvent.Type
GLOBAL = None  # the events of no action: agents, tokens, policy (the global chain)
EMAIL = {"to": "jane@example.com", "subject": "Your refund", "body": "It is on its way."}

# Written by the audit retention and verification work, built elsewhere at the moment: pruning
# anchored segments (audit_pruned) and the daily verify_audit finding tampering (audit_broken).
BUILT_ELSEWHERE = {Type.AUDIT_PRUNED, Type.AUDIT_BROKEN}


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
def scene(db, settings, monkeypatch, django_capture_on_commit_callbacks):
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
    monkeypatch.setattr(deliver_notifications, "delay", lambda ids: scene.enqueued.append(ids))
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
    form.setdefault("version", Action.objects.get(pk=action.pk).version)
    return client.post(f"/reviews/{action.pk}/decide", form)


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
    """Confirm and flag actions that ran before review, from the page form."""
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
    deleted), the expertise table, a tier's policy."""
    admin = s.page("root")
    email_form = {
        "key": "send_email", "name": "Send email", "domain": "comms", "irreversible": "on",
        "payload_schema": "null", "threshold": "0.9", "is_active": "on",
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
    return {}


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
    return {"billing": billing, "crm": crm}


# The tests.


def test_intake_and_the_agent_api(scene):
    s, t = scene, scene.trail
    got = intake_flow(s)
    pending = got["pending"]

    submitted = t.one("submit", Type.SUBMITTED, pending)
    by_agent(submitted, s.agent)
    about(submitted, pending, tier="tier1")
    assert submitted.after == {"status": "pending", "route": "pre_action", "tier": "tier1"}
    assert submitted.before is None and submitted.decision == ""

    for step in ("replay", "preview", "wait"):  # an idempotent replay, a preview and a read change nothing
        assert t.written(step) == [], step

    cancelled = t.one("cancel", Type.CANCELLED, pending)
    by_agent(cancelled, s.agent)
    about(cancelled, pending, tier="tier1")
    assert (cancelled.before, cancelled.after) == ({"status": "pending"}, {"status": "cancelled"})

    for step, key, status, route in (
        ("submit a first of its type", "novel", "pending", "pre_action"),
        ("submit autonomous", "autonomous", "approved", "autonomous"),
        ("submit post-action", "post", "approved", "post_action"),
    ):
        action = got[key]
        assert (action.status, action.route_pattern) == (status, route)
        event = t.one(step, Type.SUBMITTED, action)
        by_agent(event, s.agent)
        about(event, action, tier=action.route_tier)
        assert event.after == {"status": status, "route": route, "tier": action.route_tier}

    ran = got["autonomous"]
    outcome = t.one("outcome", Type.OUTCOME_REPORTED, ran)
    by_agent(outcome, s.agent)
    about(outcome, ran, tier=ran.route_tier)
    assert outcome.after == {"outcome": "executed", "detail": {"n": 1}}
    assert_every_chain_whole()


def test_claims(scene):
    s, t = scene, scene.trail
    action = claims_flow(s)["action"]
    tina, leo = s.people["tina"], s.people["leo"]

    claimed = t.one("claim", Type.CLAIMED, action)
    by_reviewer(claimed, tina)
    about(claimed, action, tier="tier1")
    assert (claimed.before, claimed.after) == (None, {"holder": "tina"})

    t.none("renew", action)  # renewing one's own lease is not a change of holder

    taken = t.one("take over", Type.TAKEN_OVER, action)
    by_reviewer(taken, leo)
    about(taken, action, tier="tier1")
    assert (taken.before, taken.after) == ({"holder": "tina"}, {"holder": "leo"})

    released = t.one("release", Type.RELEASED, action)
    by_reviewer(released, leo)
    about(released, action, tier="tier1")

    again = t.one("claim next", Type.CLAIMED, action)
    by_reviewer(again, tina)
    assert again.after == {"holder": "tina"}
    assert_every_chain_whole()


def test_a_reviewer_releasing_a_claim_records_whose_claim_ended(scene):
    """The sweep's release of a lapsed claim records before = {"holder": …}; a reviewer's own
    release (reviews.claims.claim_release) should say the same."""
    s, t = scene, scene.trail
    action = claims_flow(s)["action"]
    released = t.one("release", Type.RELEASED, action)
    assert released.before == {"holder": "leo"}


def test_decisions_edits_and_four_eyes(scene):
    s, t = scene, scene.trail
    got = decisions_flow(s)
    tina, eve, ed = s.people["tina"], s.people["eve"], s.people["ed"]

    approved = got["approved"]
    event = t.one("approve", Type.DECIDED, approved)
    by_reviewer(event, tina)
    about(event, approved, tier="tier1")
    decided_in(event, "approved")
    assert event.modified_action is None
    assert event.before == {"status": "pending", "payload": approved.payload}
    assert event.after == {"status": "approved", "comment": "ok"}

    modified = got["modified"]
    event = t.one("modify", Type.DECIDED, modified)
    by_reviewer(event, tina)
    about(event, modified, tier="tier1")
    decided_in(event, "modified")
    edited = {"to": "jane@example.com", "subject": "Your $40 refund", "body": "On its way."}
    assert event.modified_action == edited == fresh(modified).final_payload
    assert event.before == {"status": "pending", "payload": modified.payload}
    assert event.after["status"] == "approved"
    assert {"op": "replace", "path": "/subject", "value": "Your $40 refund"} in event.data["patch"]

    rejected = got["rejected"]
    event = t.one("reject", Type.DECIDED, rejected)
    by_reviewer(event, tina)
    about(event, rejected, tier="tier1")
    decided_in(event, "rejected")
    assert event.modified_action is None and event.data["reason"] == "wrong_recipient"
    assert event.before == {"status": "pending", "payload": rejected.payload}
    assert event.after == {"status": "rejected", "comment": "Wrong recipient · Jane asked for paper mail"}

    four_eyes = got["four_eyes"]
    checked = {**EMAIL, "subject": "Checked"}
    first = t.one("first of two approvals", Type.APPROVAL_RECORDED, four_eyes)
    by_reviewer(first, eve)
    about(first, four_eyes, tier="tier3")
    decided_in(first, "modify")  # the verdict: the action stays pending
    assert first.modified_action == checked
    assert (first.data["approvals"], first.data["required"]) == (1, 2)

    second = t.one("second approval", Type.DECIDED, four_eyes)
    by_reviewer(second, ed)
    about(second, four_eyes, tier="tier3")
    decided_in(second, "modified")  # eve's edit stands
    assert second.modified_action == checked == fresh(four_eyes).final_payload
    assert second.before == {"status": "pending", "payload": four_eyes.payload}
    assert second.after["status"] == "approved" and second.data["approvers"] == ["eve", "ed"]
    assert_every_chain_whole()


def test_post_action_reviews(scene):
    s, t = scene, scene.trail
    got = post_action_flow(s)
    tina = s.people["tina"]

    event = t.one("confirm", Type.POST_CONFIRMED, got["confirmed"])
    by_reviewer(event, tina)
    about(event, got["confirmed"], tier=got["confirmed"].route_tier)
    decided_in(event, "confirm")
    assert event.after == {"comment": ""}

    event = t.one("flag", Type.POST_FLAGGED, got["flagged"])
    by_reviewer(event, tina)
    about(event, got["flagged"], tier=got["flagged"].route_tier)
    decided_in(event, "flag")
    assert event.after == {"comment": "Ticket 882 is not urgent"}
    assert_every_chain_whole()


def test_reassign(scene):
    s, t = scene, scene.trail
    action = reassign_flow(s)["action"]
    event = t.one("reassign", Type.REASSIGNED, action)
    by_reviewer(event, s.people["leo"])
    about(event, action, tier="tier1")
    assert (event.before, event.after) == ({"group": "team"}, {"group": "finance"})
    assert fresh(action).reviewer_group == "finance"
    assert_every_chain_whole()


def test_the_sla_sweep(scene):
    s, t = scene, scene.trail
    got = sweep_flow(s)
    waiting, paged, held, ran = got["waiting"], got["paged"], got["held"], got["ran"]

    for action in (waiting, paged, held):  # announcing a new item is no change of state
        t.none("announce", action)
    assert fresh(waiting).sla_stage == 1

    released = t.one("release lapsed claim", Type.RELEASED, held)
    by_system(released)
    about(released, held, tier="tier1")
    assert released.before == {"holder": "tina"} and released.data == {"reason": "lease expired"}
    assert not Claim.objects.filter(action=held).exists()

    expired = t.one("expire", Type.EXPIRED, paged)
    by_system(expired)
    about(expired, paged, tier="tier3")
    assert expired.decision == "expired"
    assert expired.before == {"tier": "tier3", "group": "executive", "due_at": paged.due_at.isoformat()}
    assert expired.after["status"] == "expired" and "tier3 SLA" in expired.after["comment"]

    warned = t.one("warn", Type.WARNED, waiting)
    by_system(warned)
    about(warned, waiting, tier="tier1")
    assert warned.data == {"percent_of_sla": 50}

    escalated = t.one("escalate", Type.ESCALATED, waiting)
    by_system(escalated)
    about(escalated, waiting, tier="tier2")  # the tier it is at now
    assert escalated.before == {"tier": "tier1", "group": "team", "due_at": waiting.due_at.isoformat()}
    after = got["escalated"]
    assert escalated.after == {"tier": "tier2", "group": "lead", "due_at": after.due_at.isoformat()}
    assert after.due_at == waiting.due_at + timedelta(hours=1, seconds=1)  # tier2's SLA from the sweep

    closed = t.one("close review window", Type.REVIEW_WINDOW_CLOSED, ran)
    by_system(closed)
    about(closed, ran, tier=ran.route_tier)
    assert_every_chain_whole()


def test_an_expiry_records_its_time_to_decision(scene):
    """An expiry is the action's decision (decision "expired", decided_at set), so the design's
    audit minimum asks for its time_to_decision_seconds too (escalation.transitions writes NULL)."""
    s, t = scene, scene.trail
    paged = sweep_flow(s)["paged"]
    expired = t.one("expire", Type.EXPIRED, paged)
    decided_in(expired, "expired")


def test_overflow_to_the_fallback_group(scene):
    s, t = scene, scene.trail
    refunds = overflow_flow(s)["refunds"]
    written = {a.pk: [e.event_type for e in t.events("overflow", a)] for a in refunds}
    assert sorted(written.values()) == [[], [Type.OVERFLOWED]], written  # the first fits, the second overflows
    (moved,) = (a for a in refunds if written[a.pk])
    event = t.one("overflow", Type.OVERFLOWED, moved)
    by_system(event)
    about(event, moved, tier="tier1")
    assert event.before == {"group": "finance", "why": "at its daily capacity of 1"}
    assert event.after == {"group": "lead"}
    assert fresh(moved).reviewer_group == "lead"
    assert_every_chain_whole()


def test_notifications_sent_and_failed(scene):
    s, t = scene, scene.trail
    action = notifications_flow(s)["action"]
    t.none("announce with notifications", action)
    events = {e.data["channel"]: e for e in t.events("deliver", action)}
    assert sorted(e.event_type for e in events.values()) == [Type.NOTIFICATION_FAILED, Type.NOTIFICATION_SENT]
    assert set(events) == {"email", "webhook"}
    sent, failed = events["email"], events["webhook"]
    assert sent.event_type == Type.NOTIFICATION_SENT and failed.event_type == Type.NOTIFICATION_FAILED
    for event in (sent, failed):
        by_system(event)
        about(event, action, tier="tier1")
        assert event.data["event"] == "new_item"
    assert sent.data["target"] == "team@example.com" and sent.data["attempts"] == 1
    assert failed.data["attempts"] == 2 and failed.data["error"]  # one event, after the last attempt
    notified = {e.data["notification_id"] for e in events.values()}
    assert notified == set(action.notifications.values_list("pk", flat=True))
    assert_every_chain_whole()


def test_policy_changes_in_admin(scene):
    s, t = scene, scene.trail
    policy_flow(s)
    versions = []
    for name in ("change action type", "change routing settings", "add rule", "change rule", "delete rule",
                 "add expertise route", "change tier policy"):  # fmt: skip
        event = t.one(name, Type.POLICY_CHANGED)
        assert (event.actor_type, event.actor_label) == ("admin", "root"), name
        assert event.action_id is None
        versions.append(event.data["policy_version"])
        if name.startswith("add"):
            assert event.before is None and event.after, name
        elif name.startswith("delete"):
            assert event.before and event.after is None, name
        else:
            assert event.before and event.after and event.before != event.after, name
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    threshold = t.one("change action type", Type.POLICY_CHANGED)
    assert (threshold.before["threshold"], threshold.after["threshold"]) == (None, 0.9)
    tier1 = t.one("change tier policy", Type.POLICY_CHANGED)
    assert (tier1.before["warn_at"], tier1.after["warn_at"]) == ("50,75,90", "50,90")
    assert_every_chain_whole()


def test_agents_and_tokens(scene):
    s, t = scene, scene.trail
    billing = agents_flow(s)["billing"]
    created = t.events("create agent")
    assert [e.event_type for e in created] == [Type.AGENT_CREATED, Type.TOKEN_ISSUED]
    initial = ApiToken.objects.get(agent=billing, label="initial")
    for event in created:
        assert (event.actor_type, event.actor_label, event.agent_id) == ("system", "system", billing.pk)
    assert created[0].after == {"name": "billing-bot"}
    assert created[1].after == {"token": initial.prefix, "label": "initial"}

    issued = t.one("issue token in admin", Type.TOKEN_ISSUED)
    by_admin = ApiToken.objects.get(agent=billing, label="admin:root")
    assert (issued.actor_label, issued.agent_id) == ("root", billing.pk)
    assert issued.after == {"token": by_admin.prefix, "label": "admin:root"}

    revoked = t.events("revoke tokens in admin")
    assert [e.event_type for e in revoked] == [Type.TOKEN_REVOKED] * 2  # one per token
    assert sorted(e.after["token"] for e in revoked) == sorted([initial.prefix, by_admin.prefix])
    assert all((e.actor_label, e.agent_id) == ("root", billing.pk) for e in revoked)
    assert not ApiToken.objects.filter(agent=billing, revoked_at__isnull=True).exists()

    reviewer_token = t.one("create reviewer", Type.TOKEN_ISSUED)
    rita = ApiToken.objects.get(user__username="rita")
    assert (reviewer_token.actor_type, reviewer_token.actor_label) == ("system", "system")
    assert reviewer_token.after == {"token": rita.prefix, "label": "create_reviewer"}
    assert_every_chain_whole()


def test_token_changes_made_in_admin_are_recorded_as_the_admins(scene):
    """Django admin's token actions (hitl.admin.AgentAdmin.issue_token / revoke_tokens) are an
    admin's acts, as policy changes made in the same admin are (actor_type "admin")."""
    s, t = scene, scene.trail
    agents_flow(s)
    issued = t.one("issue token in admin", Type.TOKEN_ISSUED)
    revoked = t.events("revoke tokens in admin")
    assert [(e.actor_type, e.actor_label) for e in [issued, *revoked]] == [("admin", "root")] * 3


def test_an_agent_added_in_admin_is_audited(scene):
    """Adding an agent in Django admin (hitl.admin.AgentAdmin) creates an agent like create_agent does."""
    s, t = scene, scene.trail
    crm = agents_flow(s)["crm"]
    # Like create_agent: the agent and its first token (shown once to the admin), as two changes.
    assert t.written("add agent in admin") == [Type.AGENT_CREATED, Type.TOKEN_ISSUED]
    created, issued = t.events("add agent in admin", GLOBAL)
    for event in (created, issued):
        assert (event.actor_type, event.actor_label, event.agent_id) == ("admin", "root", crm.pk)
    assert created.after == {"name": "crm-bot"} and issued.after["label"] == "initial"
    changed = t.one("deactivate agent in admin", Type.AGENT_CHANGED)
    assert (changed.actor_type, changed.actor_label, changed.agent_id) == ("admin", "root", crm.pk)
    assert (changed.before, changed.after) == ({"is_active": True}, {"is_active": False})
    crm.refresh_from_db()
    assert not crm.is_active
    exported = t.one("export the audit trail", Type.AUDIT_EXPORTED)  # who took what, before the first row
    assert (exported.actor_type, exported.actor_label) == ("reviewer", "root")
    assert exported.data == {
        "from": None, "to": None, "action_type": None, "agent": "crm-bot", "reviewer": None, "format": "csv"
    }  # fmt: skip


FLOWS = [
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
]


def test_the_flows_together_write_every_event_type(scene):
    """Every flow in turn, in one database: the event types they wrote are all the types there are
    but those of flows built elsewhere, and every chain is whole."""
    for flow in FLOWS:
        flow(scene)
    expected = {str(t) for t in AuditEvent.Type} - {str(t) for t in BUILT_ELSEWHERE}
    written = scene.trail.types()
    assert written == expected, f"missing: {sorted(expected - written)}; unexpected: {sorted(written - expected)}"
    assert_every_chain_whole()
