"""Training data from reviewers' corrections: what the export's rows say against the stored
verdicts and actions, its filters' errors, who may take it, and its audit event."""

import base64
import json

import jsonpatch
import pytest

from audit.export import auditors_group
from audit.models import AuditEvent
from calibration.models import Label
from hitl.models import Action
from reviews.models import Verdict
from tests.audit.audit_flows import decisions_flow, post_action_flow
from tests.factories import UserFactory


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-ndjson"
    body = b"".join(response.streaming_content) if not response.is_async else None
    if body is None:  # an async stream under the test client
        from asgiref.sync import async_to_sync

        async def read():
            return b"".join([chunk async for chunk in response.streaming_content])

        body = async_to_sync(read)()
    return [json.loads(line) for line in body.decode().splitlines()]


@pytest.fixture
def corrected(scene):
    got = {**decisions_flow(scene), **post_action_flow(scene)}
    return scene, got


def test_corrections_are_every_edit_rejection_and_flag_with_what_the_agent_and_the_reviewer_saw(corrected):
    scene, got = corrected
    exported = rows(scene.page("root").get("/api/v1/training-data"))
    expected = Label.objects.filter(verdict__in=["modified", "rejected", "flagged"]).order_by("decided_at", "id")
    assert [r["action_id"] for r in exported] == [str(label.action_id) for label in expected]
    assert {r["verdict"] for r in exported} == {"modified", "rejected", "flagged"}  # no approval, no confirm
    for row in exported:
        action = Action.objects.select_related("action_type", "agent").get(pk=row["action_id"])
        label = Label.objects.get(action=action)
        assert (row["action_type"], row["agent"], row["reviewer"]) == (
            action.action_type.key, action.agent.name, label.reviewer.username,
        )  # fmt: skip
        assert (row["summary"], row["reasoning"], row["context"]) == (action.summary, action.reasoning, action.context)
        assert row["original_payload"] == action.payload
        if row["verdict"] == "modified":
            assert row["final_payload"] == action.final_payload == label.edit
            assert jsonpatch.apply_patch(action.payload, row["patch"]) == action.final_payload
        else:
            assert row["final_payload"] is None
    rejected = next(r for r in exported if r["action_id"] == str(got["rejected"].pk))
    stored = Action.objects.get(pk=got["rejected"].pk).decision_comment
    assert rejected["comment"] == stored == "Wrong recipient · Jane asked for paper mail"  # the reason, then the note
    flagged = next(r for r in exported if r["action_id"] == str(got["flagged"].pk))
    assert flagged["comment"] == "Ticket 882 is not urgent"


def test_preference_pairs_are_the_reviewers_payload_against_the_agents(corrected):
    scene, got = corrected
    pairs = rows(scene.page("root").get("/api/v1/training-data", {"kind": "preferences"}))
    modified = Label.objects.filter(verdict="modified")
    assert sorted(p["action_id"] for p in pairs) == sorted(str(label.action_id) for label in modified)
    assert len(pairs) == 2  # the page's edit and the four-eyes edit
    for pair in pairs:
        action = Action.objects.get(pk=pair["action_id"])
        last_edit = Verdict.objects.filter(action=action, payload__isnull=False).order_by("id").last()
        assert pair["chosen"] == action.final_payload == last_edit.payload  # what the reviewer approved
        assert pair["rejected"] == action.payload  # what the agent proposed
        assert pair["prompt"] == {"action_type": "send_email", "summary": action.summary,
                                  "reasoning": action.reasoning, "context": action.context}  # fmt: skip


def test_filters_narrow_the_rows_and_a_bad_one_is_a_400_naming_it(corrected):
    scene, got = corrected
    admin = scene.page("root")
    only = rows(admin.get("/api/v1/training-data", {"action_type": "send_email", "agent": "support-bot"}))
    assert only and all(r["action_type"] == "send_email" for r in only)
    assert rows(admin.get("/api/v1/training-data", {"from": "2999-01-01"})) == []
    for params, field, message in (
        ({"kind": "everything"}, "kind", "Unknown kind 'everything'. Use one of: corrections, preferences."),
        ({"agent": "nobody"}, "agent", "No agent is named 'nobody'."),
        ({"from": "yesterday"}, "from", None),
        ({"group_by": "agent"}, "group_by", "Not a filter of the training data export. Known: action_type, agent, "
                                            "domain, from, to, kind."),
    ):  # fmt: skip
        refused = admin.get("/api/v1/training-data", params)
        assert refused.status_code == 400, params
        fields = refused.json()["fields"]
        assert field in fields and (message is None or fields[field] == [message])
    assert not AuditEvent.objects.filter(event_type="training_exported", data__kind="everything").exists()


def test_admins_and_auditors_may_export_it_and_each_export_is_audited(corrected):
    scene, _ = corrected
    audrey = UserFactory(username="audrey")
    audrey.groups.add(auditors_group())
    auditor = scene.page("tina")
    auditor.force_login(audrey)
    assert rows(auditor.get("/api/v1/training-data", {"kind": "preferences", "agent": "support-bot"}))
    event = AuditEvent.objects.get(event_type="training_exported")
    assert (event.actor_type, event.actor_label) == ("reviewer", "audrey")
    assert event.data == {"kind": "preferences", "action_type": None, "agent": "support-bot", "domain": None,
                          "from": None, "to": None}  # fmt: skip

    assert scene.page("leo").get("/api/v1/training-data").status_code == 403  # a lead: neither
    assert scene.token_api("root").get("/api/v1/training-data").status_code == 403  # a token, even an admin's
    assert scene.api.get("/api/v1/training-data").status_code == 403  # an agent
    from django.test import Client

    assert Client().get("/api/v1/training-data").status_code == 401
    basic = base64.b64encode(b"root:pw").decode()
    assert rows(Client().get("/api/v1/training-data", HTTP_AUTHORIZATION=f"Basic {basic}")) is not None
    assert AuditEvent.objects.filter(event_type="training_exported").count() == 2
