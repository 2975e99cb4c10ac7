"""Reviewer groups, reject reasons and notification routes are policy: every change an admin makes
to them in Django admin is one audited `policy_changed` event with what it was and what it became."""

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from escalation.models import NotificationRoute
from hitl.models import RoutingSettings
from hitl.policy import routing_settings
from reviews.models import RejectReason, ReviewerGroup
from tests.factories import ReviewerGroupFactory, UserFactory


@pytest.fixture
def admin_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.fixture
def people(db):
    return {name: UserFactory(username=name) for name in ("ann", "bob", "cid")}


def policy_events():
    return list(AuditEvent.objects.filter(event_type="policy_changed").order_by("id"))


def version():
    return routing_settings().version


def group_form(**overrides):
    fields = {"key": "legal", "name": "Legal", "kind": "expertise", "rank": "0", "members": [],
              "daily_capacity": "", "wip_cap": "5", "fallback": ""}  # fmt: skip
    fields.update(overrides)
    return fields


def test_adding_changing_and_deleting_a_group_is_audited_with_its_members(admin_client, people):
    lead = ReviewerGroupFactory(key="lead", rank=2)
    ann, bob, cid = people["ann"], people["bob"], people["cid"]

    added = admin_client.post(
        "/admin/reviews/reviewergroup/add/", group_form(members=[bob.pk, ann.pk], fallback=str(lead.pk))
    )
    assert added.status_code == 302, added.content
    group = ReviewerGroup.objects.get(key="legal")
    url = f"/admin/reviews/reviewergroup/{group.pk}/"
    # Only the members change: the row is saved as it was, the members after it (save_related).
    members_only = admin_client.post(f"{url}change/", group_form(members=[ann.pk, cid.pk], fallback=str(lead.pk)))
    assert members_only.status_code == 302, members_only.content
    capacity = admin_client.post(
        f"{url}change/", group_form(members=[ann.pk, cid.pk], fallback=str(lead.pk), daily_capacity="20")
    )
    assert capacity.status_code == 302, capacity.content
    assert admin_client.post(f"{url}delete/", {"post": "yes"}).status_code == 302
    assert not ReviewerGroup.objects.filter(key="legal").exists()

    events = policy_events()
    assert len(events) == 4
    assert all((e.actor_type, e.actor_label, e.action_id) == ("admin", "root", None) for e in events)
    assert all(e.data["model"] == "reviews.ReviewerGroup" and e.data["object"] == "Legal" for e in events)
    assert [e.data["policy_version"] for e in events] == [2, 3, 4, 5] and version() == 5
    add, members, cap, delete = events
    assert add.before is None
    assert add.after == {
        "id": group.pk, "key": "legal", "name": "Legal", "kind": "expertise", "rank": 0, "members": ["ann", "bob"],
        "daily_capacity": None, "fallback": lead.pk, "wip_cap": 5,
    }  # fmt: skip
    assert members.before == add.after
    assert members.after == {**add.after, "members": ["ann", "cid"]}
    assert (cap.before["daily_capacity"], cap.after["daily_capacity"]) == (None, 20)
    assert cap.before["members"] == cap.after["members"] == ["ann", "cid"]
    assert delete.before == cap.after and delete.after is None


def test_saving_a_group_unchanged_writes_nothing(admin_client, people):
    group = ReviewerGroupFactory(key="legal", name="Legal", kind="expertise", rank=0)
    group.members.add(people["ann"])
    form = group_form(members=[people["ann"].pk])
    assert admin_client.post(f"/admin/reviews/reviewergroup/{group.pk}/change/", form).status_code == 302
    assert policy_events() == [] and version() == 1


def test_a_refused_group_form_writes_nothing(admin_client, people):
    legal = ReviewerGroupFactory(key="legal", name="Legal", kind="expertise", rank=0)
    finance = ReviewerGroupFactory(key="finance", kind="expertise", rank=0, fallback=legal)
    response = admin_client.post(
        f"/admin/reviews/reviewergroup/{legal.pk}/change/",
        group_form(members=[people["bob"].pk], fallback=str(finance.pk)),
    )
    assert response.status_code == 200 and "cannot overflow to itself" in response.content.decode()
    assert list(legal.members.all()) == []
    assert policy_events() == [] and version() == 1


def test_deleting_groups_from_the_list_audits_each_one(admin_client, people):
    groups = [ReviewerGroupFactory(key=key, kind="expertise", rank=0) for key in ("legal", "finance")]
    groups[0].members.add(people["ann"], people["bob"])
    response = admin_client.post(
        "/admin/reviews/reviewergroup/",
        {"action": "delete_selected", "_selected_action": [g.pk for g in groups], "post": "yes"},
    )
    assert response.status_code == 302
    assert not ReviewerGroup.objects.filter(key__in=["legal", "finance"]).exists()
    deleted = {e.before["key"]: e for e in policy_events()}
    assert deleted.keys() == {"legal", "finance"}
    assert deleted["legal"].before["members"] == ["ann", "bob"] and deleted["finance"].before["members"] == []
    assert all(e.after is None for e in deleted.values())


def reason_form(**overrides):
    return {"label": "Wrong customer", "code": "wrong-customer", "position": "1", "is_active": "on", **overrides}


def test_reject_reasons_are_audited_from_their_form_and_from_the_list(admin_client):
    assert admin_client.post("/admin/reviews/rejectreason/add/", reason_form()).status_code == 302
    wrong = RejectReason.objects.get(code="wrong-customer")
    tone = RejectReason.objects.create(code="tone", label="Wrong tone", position=2)
    url = f"/admin/reviews/rejectreason/{wrong.pk}/change/"
    assert admin_client.post(url, reason_form()).status_code == 302  # unchanged: nothing
    assert admin_client.post(url, reason_form(label="Wrong recipient")).status_code == 302
    # The list edits positions and activity in place; only the row that changed is saved.
    listed = admin_client.post(
        "/admin/reviews/rejectreason/",
        {
            "form-TOTAL_FORMS": "2", "form-INITIAL_FORMS": "2", "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "1000",
            "form-0-id": str(wrong.pk), "form-0-position": "1", "form-0-is_active": "on",
            "form-1-id": str(tone.pk), "form-1-position": "2",
            "_save": "Save",
        },
    )  # fmt: skip
    assert listed.status_code == 302, listed.content
    assert admin_client.post(f"/admin/reviews/rejectreason/{wrong.pk}/delete/", {"post": "yes"}).status_code == 302

    added, relabelled, deactivated, deleted = policy_events()
    assert added.before is None
    assert added.after == {"id": wrong.pk, "code": "wrong-customer", "label": "Wrong customer", "position": 1,
                           "is_active": True}  # fmt: skip
    assert (relabelled.before["label"], relabelled.after["label"]) == ("Wrong customer", "Wrong recipient")
    assert deactivated.data["object"] == "Wrong tone"
    assert (deactivated.before["is_active"], deactivated.after["is_active"]) == (True, False)
    assert deleted.before["label"] == "Wrong recipient" and deleted.after is None
    assert all(e.actor_type == "admin" and e.actor_label == "root" for e in policy_events())
    assert RoutingSettings.objects.get().version == 5


def route_form(**overrides):
    return {"reviewer_group": "team", "event": "breach", "channel": "email", "target": "oncall@example.com",
            "is_active": "on", **overrides}  # fmt: skip


def test_notification_routes_are_audited(admin_client):
    ReviewerGroupFactory(key="team")
    assert admin_client.post("/admin/escalation/notificationroute/add/", route_form()).status_code == 302
    route = NotificationRoute.objects.get(channel="email")  # beside the default in-app routes
    url = f"/admin/escalation/notificationroute/{route.pk}/"
    assert admin_client.post(f"{url}change/", route_form()).status_code == 302  # unchanged: nothing
    refused = admin_client.post(f"{url}change/", route_form(target="not-an-address"))
    assert refused.status_code == 200 and "Not an email address" in refused.content.decode()
    changed = admin_client.post(f"{url}change/", route_form(target="oncall@example.com,lead@example.com"))
    assert changed.status_code == 302, changed.content
    assert admin_client.post(f"{url}delete/", {"post": "yes"}).status_code == 302

    added, retargeted, deleted = policy_events()
    assert added.before is None
    assert added.after == {"id": route.pk, "reviewer_group": "team", "event": "breach", "channel": "email",
                           "target": "oncall@example.com", "is_active": True}  # fmt: skip
    assert retargeted.before == added.after
    assert retargeted.after == {**added.after, "target": "oncall@example.com, lead@example.com"}
    assert deleted.before == retargeted.after and deleted.after is None
    assert all(e.data["model"] == "escalation.NotificationRoute" for e in (added, retargeted, deleted))
    assert all(e.actor_type == "admin" and e.actor_label == "root" for e in (added, retargeted, deleted))
