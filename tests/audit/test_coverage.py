"""Every state change writes exactly one audit event, through the flow a user really takes.

Each flow below is driven as in production (the agent API, the reviewer pages and their form
POSTs, Django admin, the operator's commands, the SLA sweep and the notification task) and notes,
step by step, which audit events the step inserted (the events with ids between the step's start
and its end). The tests then check that each step wrote exactly the one event it should, for its
action (or, for agents, tokens and policy, in the global chain), with its actor, the design's audit
minimum and its before/after. The last test runs every flow in one database and checks that the
flows, together, wrote every event type there is.
"""

from datetime import timedelta

from audit.models import AuditEvent
from hitl.models import ApiToken
from reviews.models import Claim
from tests.audit.audit_flows import (
    EMAIL,
    FLOWS,
    GLOBAL,
    OUTSIDE_THESE_FLOWS,
    Type,
    about,
    agents_flow,
    assert_every_chain_whole,
    by_agent,
    by_reviewer,
    by_system,
    claims_flow,
    decided_in,
    decisions_flow,
    fresh,
    intake_flow,
    logins_flow,
    notifications_flow,
    overflow_flow,
    policy_flow,
    post_action_flow,
    reassign_flow,
    sweep_flow,
)


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
    """A reviewer's own release records whose claim ended, as the sweep's release of a lapsed
    claim does (before = {"holder": …})."""
    s, t = scene, scene.trail
    action = claims_flow(s)["action"]
    released = t.one("release", Type.RELEASED, action)
    assert released.before == {"holder": "leo"}


def test_decisions_edits_and_four_eyes(scene):
    s, t = scene, scene.trail
    got = decisions_flow(s)
    tina, eve, ed = s.people["tina"], s.people["eve"], s.people["ed"]

    approved = got["approved"]
    event = t.decided("approve", Type.DECIDED, approved)
    by_reviewer(event, tina)
    about(event, approved, tier="tier1")
    decided_in(event, "approved")
    assert event.modified_action is None
    assert event.before == {"status": "pending", "payload": approved.payload}
    assert event.after == {"status": "approved", "comment": "ok"}

    modified = got["modified"]
    event = t.decided("modify", Type.DECIDED, modified)
    by_reviewer(event, tina)
    about(event, modified, tier="tier1")
    decided_in(event, "modified")
    edited = {"to": "jane@example.com", "subject": "Your $40 refund", "body": "On its way."}
    assert event.modified_action == edited == fresh(modified).final_payload
    assert event.before == {"status": "pending", "payload": modified.payload}
    assert event.after["status"] == "approved"
    assert {"op": "replace", "path": "/subject", "value": "Your $40 refund"} in event.data["patch"]

    rejected = got["rejected"]
    event = t.decided("reject", Type.DECIDED, rejected)
    by_reviewer(event, tina)
    about(event, rejected, tier="tier1")
    decided_in(event, "rejected")
    assert event.modified_action is None and event.data["reason"] == "wrong_recipient"
    assert event.before == {"status": "pending", "payload": rejected.payload}
    assert event.after == {"status": "rejected", "comment": "Wrong recipient · Jane asked for paper mail"}

    four_eyes = got["four_eyes"]
    checked = {**EMAIL, "subject": "Checked"}
    first = t.decided("first of two approvals", Type.APPROVAL_RECORDED, four_eyes)
    by_reviewer(first, eve)
    about(first, four_eyes, tier="tier3")
    decided_in(first, "modify")  # the verdict: the action stays pending
    assert first.modified_action == checked
    assert (first.data["approvals"], first.data["required"]) == (1, 2)

    second = t.decided("second approval", Type.DECIDED, four_eyes)
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

    # A flag is the verdict and, in the same step, the request that the agent undo what ran.
    event, requested = t.events("flag", got["flagged"])
    assert (event.event_type, requested.event_type) == (Type.POST_FLAGGED, Type.COMPENSATION_REQUESTED)
    by_reviewer(event, tina)
    about(event, got["flagged"], tier=got["flagged"].route_tier)
    decided_in(event, "flag")
    assert event.after == {"comment": "Ticket 882 is not urgent"}
    by_reviewer(requested, tina)
    about(requested, got["flagged"], tier=got["flagged"].route_tier)
    assert requested.after == {"compensation": "requested", "reason": "Ticket 882 is not urgent"}

    event = t.one("compensate", Type.COMPENSATION_REPORTED, got["flagged"])
    by_agent(event, s.agent)
    about(event, got["flagged"], tier=got["flagged"].route_tier)
    assert (event.before, event.after) == (
        {"compensation": "requested"},
        {"compensation": "compensated", "detail": {"tag_removed": True}},
    )
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
    audit minimum asks for its time_to_decision_seconds too."""
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
    got = policy_flow(s)
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
    proposal = got["proposal"]
    for name, kind in (("shadow proposal", Type.PROPOSAL_SHADOWED), ("reject proposal", Type.PROPOSAL_REJECTED)):
        event = t.one(name, kind)
        assert (event.actor_type, event.actor_label, event.action_type) == ("admin", "root", "send_email"), name
        assert (event.data["proposal"], event.data["proposed_threshold"]) == (proposal.pk, 0.8), name
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
    training = t.one("export training data", Type.TRAINING_EXPORTED)  # who took reviewers' corrections
    assert (training.actor_type, training.actor_label, training.data["agent"]) == ("reviewer", "root", "crm-bot")


def test_login_lockouts(scene):
    s, t = scene, scene.trail
    logins_flow(s)
    locked = t.one("lock out", Type.LOGIN_LOCKED)
    by_system(locked)
    assert {key: locked.data[key] for key in ("scope", "username", "address", "failures")} == {
        "scope": "account", "username": "tina", "address": "127.0.0.1", "failures": 5,
    }  # fmt: skip
    t.none("refused while locked out")  # one event for the lockout, not one per refusal
    lifted = t.one("lift lockout in admin", Type.LOGIN_UNLOCKED)
    assert (lifted.actor_type, lifted.actor_label) == ("admin", "root")
    assert (lifted.data["scope"], lifted.data["username"]) == ("account", "tina")
    assert_every_chain_whole()


def test_the_flows_together_write_every_event_type(scene):
    """Every flow in turn, in one database: the event types they wrote are all the types there are
    but those only tampering or retention write (test_audit_chain.py), and every chain is whole."""
    for flow in FLOWS:
        flow(scene)
    expected = {str(t) for t in AuditEvent.Type} - {str(t) for t in OUTSIDE_THESE_FLOWS}
    written = scene.trail.types()
    assert written == expected, f"missing: {sorted(expected - written)}; unexpected: {sorted(written - expected)}"
    assert_every_chain_whole()
