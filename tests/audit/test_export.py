"""Auditors export the audit trail: the page, the download, the API, and the read-only admin."""

import asyncio
import base64
import csv
import io
import json
from datetime import UTC, datetime

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import AsyncClient, Client

from audit.export import COLUMNS, auditors_group
from audit.models import AuditEvent
from hitl.services import action_submit, agent_create, token_issue
from reviews.services import review_decide
from tests.conftest import bearer_client
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

API = "/api/v1/audit/events"


def at(day: str):
    """Freeze the clock at a UTC moment ("2026-01-10T09:00") while events are written."""
    return time_machine.travel(datetime.fromisoformat(day).replace(tzinfo=UTC), tick=False)


@pytest.fixture
def trail(db):
    """Two agents, two action types, three actions over three months; tina decides two of them.
    Returns {name: action}."""
    email = ActionTypeFactory()
    refund = ActionTypeFactory(key="issue_refund", name="Issue refund", domain="finance", payload_schema=None)
    tina = UserFactory(username="tina")
    ReviewerGroupFactory(key="team", rank=1).members.add(tina)
    with at("2026-01-01T08:00"):
        support, _ = agent_create(name="support-bot")
        billing, _ = agent_create(name="billing-bot")
    actions = {}
    with at("2026-01-10T09:00"):
        actions["email"] = action_submit(
            agent=support, action_type=email, payload={"to": "jane@example.com", "subject": "Hi"},
            summary="Email Jane", confidence=0.9,
        )  # fmt: skip
    with at("2026-01-20T10:00"):
        review_decide(
            reviewer=tina, action_id=actions["email"].pk, decision="modify",
            payload={"to": "jane@example.com", "subject": "Hello, Jane ✓"},
        )  # fmt: skip
    with at("2026-02-05T11:00"):
        actions["refund"] = action_submit(
            agent=billing, action_type=refund, payload={"order": "881", "amount": 40}, summary="Refund", confidence=0.7
        )
    with at("2026-02-06T12:00"):
        review_decide(reviewer=tina, action_id=actions["refund"].pk, decision="reject", comment="Not eligible")
    with at("2026-03-01T13:00"):
        actions["later"] = action_submit(
            agent=support, action_type=email, payload={"to": "omar@example.com", "subject": "Hi"},
            summary="Email Omar", confidence=0.9,
        )  # fmt: skip
    return actions


@pytest.fixture
def auditor(db):
    user = UserFactory(username="audrey")
    user.groups.add(auditors_group())  # created by migration 0008 (again if a test emptied the database)
    return user


def stream(path: str, *, user=None, headers=None):
    """GET through Django's async client and read the streamed body chunk by chunk, as an ASGI
    server does. Returns (response, chunks or None). Runs under async_to_sync, so the view's
    thread-sensitive work happens on this thread, inside the test's transaction."""

    async def fetch():
        client = AsyncClient()
        if user is not None:
            await client.aforce_login(user)
        response = await client.get(path, headers=headers or {})
        chunks = [chunk async for chunk in response.streaming_content] if response.streaming else None
        return response, chunks

    return async_to_sync(fetch)()


def jsonl(chunks) -> list[dict]:
    body = b"".join(chunks).decode()
    assert body.endswith("\n")
    return [json.loads(line) for line in body.splitlines()]


def ids(queryset) -> list[int]:
    return list(queryset.order_by("id").values_list("id", flat=True))


# --- what an auditor gets -------------------------------------------------------------------------


def test_auditor_exports_every_event_as_json_lines_in_id_order(trail, auditor):
    response, chunks = stream(API, user=auditor)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Disposition"] == 'attachment; filename="audit-events_start_now.jsonl"'
    events = jsonl(chunks)
    # Every event written before the export; the export's own record comes after them.
    (exported,) = AuditEvent.objects.filter(event_type="audit_exported")
    assert [e["id"] for e in events] == ids(AuditEvent.objects.filter(id__lt=exported.pk))
    assert [e["id"] for e in events] == ids(AuditEvent.objects.exclude(pk=exported.pk))
    assert (exported.actor_label, exported.data["format"]) == (auditor.get_username(), "jsonl")
    assert all(list(e) == list(COLUMNS) for e in events)

    modified = next(e for e in events if e["event_type"] == "decided" and e["decision"] == "modified")
    stored = AuditEvent.objects.get(pk=modified["id"])
    assert modified["created_at"] == "2026-01-20T10:00:00.000000Z"
    assert modified["action_id"] == str(trail["email"].pk)
    assert modified["agent"] == "support-bot" and modified["agent_id"] == trail["email"].agent_id
    assert modified["reviewer"] == "tina" and modified["reviewer_id"] == stored.reviewer_id
    assert modified["action_type"] == "send_email" and modified["routing_tier"] == "tier1"
    assert modified["agent_confidence"] == 0.9
    assert modified["time_to_decision_seconds"] == (10 * 24 + 1) * 3600
    assert modified["modified_action"] == {"to": "jane@example.com", "subject": "Hello, Jane ✓"}
    assert modified["before"] == stored.before and modified["after"] == stored.after
    assert modified["data"] == stored.data and modified["data"]["approvers"] == ["tina"]
    assert (modified["seq"], modified["prev_hash"], modified["hash"]) == (stored.seq, stored.prev_hash, stored.hash)
    assert len(modified["hash"]) == 64  # set by the chain's trigger

    created = next(e for e in events if e["event_type"] == "agent_created")
    assert created["action_id"] is None and created["reviewer"] is None and created["modified_action"] is None


@pytest.mark.parametrize(
    "query, expected",
    [
        # from is included, to is excluded
        (
            "from=2026-01-20T10:00:00Z&to=2026-02-06T12:00:00Z",
            [("claimed", "email"), ("decided", "email"), ("submitted", "refund")],
        ),
        ("from=2026-02-06&to=2026-03-01T13:00", [("claimed", "refund"), ("decided", "refund")]),
        ("from=2026-01-20T11:00:00%2B01:00&to=2026-01-20T11:00:01%2B01:00", [("claimed", "email"),
                                                                             ("decided", "email")]),
        ("agent=billing-bot", [("agent_created", None), ("token_issued", None), ("submitted", "refund"),
                               ("claimed", "refund"), ("decided", "refund")]),
        ("reviewer=tina", [("claimed", "email"), ("decided", "email"), ("claimed", "refund"), ("decided", "refund")]),
        ("action_type=send_email&from=2026-02-01", [("submitted", "later")]),
        ("action_type=issue_refund&reviewer=tina&agent=billing-bot&from=2026-01-01&to=2027-01-01",
         [("claimed", "refund"), ("decided", "refund")]),
        ("from=2026-03-02", []),
    ],
)  # fmt: skip
def test_filters_select_exactly_the_matching_events(trail, auditor, query, expected):
    response, chunks = stream(f"{API}?{query}", user=auditor)
    assert response.status_code == 200
    events = jsonl(chunks) if b"".join(chunks) else []
    by_action = {str(action.pk): name for name, action in trail.items()}
    assert [(e["event_type"], by_action.get(e["action_id"])) for e in events] == expected
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)


def test_csv_has_a_header_and_the_same_rows(trail, auditor):
    _, json_chunks = stream(f"{API}?from=2026-01-15&to=2026-06-01", user=auditor)  # not the exports' records
    response, chunks = stream(f"{API}?from=2026-01-15&to=2026-06-01&format=csv", user=auditor)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="audit-events_20260115T000000Z_20260601T000000Z.csv"'
    )
    reader = csv.DictReader(io.StringIO(b"".join(chunks).decode(), newline=""))
    assert tuple(reader.fieldnames) == COLUMNS
    rows, events = list(reader), jsonl(json_chunks)
    assert [int(row["id"]) for row in rows] == [e["id"] for e in events] and len(rows) == 6
    for row, event in zip(rows, events, strict=True):
        assert row["created_at"] == event["created_at"]
        assert row["action_id"] == event["action_id"] and row["reviewer"] == (event["reviewer"] or "")
        assert row["hash"] == event["hash"] and int(row["seq"]) == event["seq"]
        for name in ("modified_action", "before", "after", "data"):  # JSON as JSON text; null as empty
            assert (json.loads(row[name]) if row[name] else None) == event[name]


def test_the_page_downloads_the_same_export(trail, auditor):
    response, chunks = stream("/audit/export?reviewer=tina&format=csv", user=auditor)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode(), newline="")))
    assert [(row["event_type"], row["decision"]) for row in rows] == [
        ("claimed", ""), ("decided", "modified"), ("claimed", ""), ("decided", "rejected"),
    ]  # fmt: skip


def test_the_export_is_streamed_from_an_async_iterator(trail, auditor):
    """Under ASGI a synchronous iterator would be read whole into memory before the first byte."""
    for path in (f"{API}?to=2026-02-01T00:00:00Z", "/audit/export?to=2026-02-01T00:00:00Z"):
        response, chunks = stream(path, user=auditor)
        assert response.streaming and response.is_async, path
        assert response["Cache-Control"] == "no-store"
        assert response["Content-Disposition"] == 'attachment; filename="audit-events_start_20260201T000000Z.jsonl"'
        assert len(jsonl(chunks)) == 7  # 2 agents created, 2 tokens issued, the email submitted, claimed, decided


def test_the_export_reads_the_events_a_chunk_at_a_time(trail, auditor, monkeypatch):
    monkeypatch.setattr("audit.export.CHUNK_ROWS", 2)
    count = AuditEvent.objects.count()  # the export's own record comes after these
    response, chunks = stream(API, user=auditor)
    assert len(chunks) == (count + 1) // 2  # one body chunk per fetch of two rows
    assert len(jsonl(chunks)) == count


def test_the_synchronous_test_client_reads_it_too(trail, auditor):
    client = Client()
    client.force_login(auditor)
    response = client.get(API, {"agent": "billing-bot"})
    assert response.streaming and response.status_code == 200
    with pytest.warns(Warning, match="asynchronous iterators"):  # Django says a sync server buffers it
        body = b"".join(response)
    assert [json.loads(line)["event_type"] for line in body.decode().splitlines()] == [
        "agent_created", "token_issued", "submitted", "claimed", "decided",
    ]  # fmt: skip


def test_basic_authentication_and_superusers(trail):
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    audrey = UserFactory(username="audrey", password="pw-audrey")
    audrey.groups.add(auditors_group())
    for credentials in ("audrey:pw-audrey", "root:pw-root"):
        basic = "Basic " + base64.b64encode(credentials.encode()).decode()
        response, chunks = stream(f"{API}?reviewer=tina", headers={"Authorization": basic})
        assert response.status_code == 200, credentials
        assert len(jsonl(chunks)) == 4  # tina's two claims and decisions
    wrong = "Basic " + base64.b64encode(b"audrey:not-it").decode()
    assert Client().get(API, HTTP_AUTHORIZATION=wrong).status_code == 401


def test_head_answers_with_the_headers_without_exporting(trail, auditor):
    events = AuditEvent.objects.count()
    client = Client()
    client.force_login(auditor)
    query = {"agent": "billing-bot", "format": "csv"}
    head = client.head(API, query)
    assert head.status_code == 200
    assert client.head(API, {"format": "xml"}).status_code == 400
    assert AuditEvent.objects.count() == events  # no export was recorded, and none ran
    get = client.get(API, query)
    assert "Content-Length" not in get  # streamed; HEAD must not claim a length either
    shown = {name: value for name, value in head.items() if name != "X-Request-ID"}
    assert shown == {name: value for name, value in get.items() if name != "X-Request-ID"}


# --- who may not ----------------------------------------------------------------------------------


def test_anonymous_callers_are_asked_to_log_in(trail):
    client = Client()
    for path in ("/audit/", "/audit/export"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), path
    response = client.get(API)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert response.json()["error"] == "not_authenticated"


def test_users_without_the_permission_get_403(trail):
    tina = get_user_model().objects.get(username="tina")
    client = Client()
    client.force_login(tina)
    for path in ("/audit/", "/audit/export", API):
        response = client.get(path)
        assert response.status_code == 403, path
        assert not response.streaming
    assert client.get(API).json()["error"] == "permission_denied"
    assert b'href="/audit/"' not in client.get("/reviews/").content  # no link in the navigation


def test_tokens_cannot_export_even_an_auditors(trail, auditor):
    _, agent_token = agent_create(name="curious-bot")
    response = bearer_client(agent_token).get(API)
    assert response.status_code == 403
    assert "API tokens cannot export" in response.json()["message"]
    assert bearer_client(token_issue(user=auditor, label="tests")).get(API).status_code == 403


# --- bad filters ------------------------------------------------------------------------------------


BAD = [
    ("from=yesterday", "from", "ISO 8601"),
    ("to=2026-13-01", "to", "ISO 8601"),
    ("from=01/02/2026", "from", "ISO 8601"),
    ("from=2026-01-31T09:30:00 01:00", "from", "%2B"),
    ("from=2026-02-01&to=2026-01-01", "from", "Is after to"),
    ("action_type=send_mail", "action_type", "Unknown action type 'send_mail'. Known types: issue_refund, send_email"),
    ("agent=nobody-bot", "agent", "No agent is named 'nobody-bot'"),
    ("reviewer=nobody", "reviewer", "No user has the username 'nobody'"),
    ("format=xml", "format", "Unknown format 'xml'. Use one of: jsonl, csv"),
]


@pytest.mark.parametrize("query, field, reason", BAD)
def test_a_bad_filter_is_a_400_naming_the_field_and_why(trail, auditor, query, field, reason):
    events = AuditEvent.objects.count()
    client = Client()
    client.force_login(auditor)
    response = client.get(f"{API}?{query}")
    assert response.status_code == 400 and not response.streaming
    body = response.json()
    assert body["error"] == "invalid_request" and list(body["fields"]) == [field]
    assert reason in body["fields"][field][0]
    for path in ("/audit/", "/audit/export"):  # the page shows the form again, with the reason
        page = client.get(f"{path}?{query}")
        assert page.status_code == 400 and not page.streaming, path
        assert f"<strong>{field}</strong>" in page.content.decode() and "errorlist" in page.content.decode()
    assert AuditEvent.objects.count() == events  # nothing was written


def test_unknown_parameters_are_refused_by_the_api(auditor):
    client = Client()
    client.force_login(auditor)
    response = client.get(API, {"agnet": "support-bot", "format": "csv"})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["agnet"]


def test_accept_headers_and_format_do_not_confuse_the_api(trail, auditor):
    """DRF would read `format` as a renderer's name and refuse Accept: text/csv with 406."""
    response, chunks = stream(f"{API}?format=csv", user=auditor, headers={"Accept": "text/csv"})
    assert response.status_code == 200 and chunks[0].startswith(b"id,created_at,")
    client = Client()
    client.force_login(auditor)
    bad = client.get(f"{API}?format=xml", HTTP_ACCEPT="text/csv")
    assert bad.status_code == 400 and bad["Content-Type"] == "application/json"


# --- the page -------------------------------------------------------------------------------------


def test_the_page_previews_the_newest_matching_events_a_page_at_a_time(trail, auditor, monkeypatch):
    monkeypatch.setattr("audit.views.PREVIEW_SIZE", 2)
    client = Client()
    client.force_login(auditor)
    page = client.get("/audit/", {"agent": "support-bot"})
    assert page.status_code == 200
    html = page.content.decode()
    newest = ids(AuditEvent.objects.filter(agent__name="support-bot"))[::-1]
    shown = [event.pk for event in page.context["rows"]]
    assert shown == newest[:2]
    assert f"<td>{newest[0]}</td>" in html and f"<td>{newest[2]}</td>" not in html
    assert f"agent=support-bot&amp;before={newest[1]}" in html  # older events keep the filter
    older = client.get("/audit/", {"agent": "support-bot", "before": newest[1]})
    assert [event.pk for event in older.context["rows"]] == newest[2:4]
    assert 'name="from"' in html and 'formaction="/audit/export"' in html  # the form and its download button


def test_the_page_has_an_empty_state_and_a_link_for_auditors(auditor):
    client = Client()
    client.force_login(auditor)
    page = client.get("/audit/", {"from": "2030-01-01"})
    assert page.status_code == 200
    assert b"No audit events match these filters." in page.content
    assert b'<a href="/audit/">Audit</a>' in client.get("/reviews/").content
    assert b"https://" not in page.content and b"//cdn" not in page.content


# --- the group and the admin ------------------------------------------------------------------------


def test_the_auditors_group_holds_the_export_permission(db):
    group = auditors_group()
    assert [(p.content_type.app_label, p.codename) for p in group.permissions.all()] == [("audit", "export_auditevent")]
    user = UserFactory(username="new-auditor")
    assert not user.has_perm("audit.export_auditevent")
    user.groups.add(group)
    user = get_user_model().objects.get(pk=user.pk)  # permissions are cached per instance
    assert user.has_perm("audit.export_auditevent")


@pytest.fixture
def admin_client(db):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_admin_lists_filters_and_searches_the_audit_log(trail, admin_client):
    page = admin_client.get("/admin/audit/auditevent/")
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("By event type", "By actor type", "By routing tier", "?event_type=decided", "?routing_tier=tier3"):
        assert text in html, text
    decided = admin_client.get("/admin/audit/auditevent/", {"event_type": "decided", "routing_tier": "tier1"})
    assert sorted(e.pk for e in decided.context["cl"].result_list) == ids(
        AuditEvent.objects.filter(event_type="decided", routing_tier="tier1")
    )
    by_action = admin_client.get("/admin/audit/auditevent/", {"q": str(trail["refund"].pk)})
    assert sorted(e.pk for e in by_action.context["cl"].result_list) == ids(
        AuditEvent.objects.filter(action=trail["refund"])
    )
    by_label = admin_client.get("/admin/audit/auditevent/", {"q": "tina"})
    assert {e.actor_label for e in by_label.context["cl"].result_list} == {"tina"}
    by_type = admin_client.get("/admin/audit/auditevent/", {"q": "issue_refund"})
    assert {e.action_type for e in by_type.context["cl"].result_list} == {"issue_refund"}


def test_admin_shows_an_event_read_only_with_its_chain_fields(trail, admin_client):
    event = AuditEvent.objects.filter(action=trail["email"], event_type="decided").get()
    page = admin_client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert event.hash in html and event.prev_hash in html and "Tamper evidence" in html
    assert 'name="_save"' not in html and "<textarea" not in html and "/delete/" not in html


def test_admin_refuses_to_add_change_or_delete_events(trail, admin_client):
    event = AuditEvent.objects.filter(event_type="decided").first()
    before = AuditEvent.objects.values().get(pk=event.pk)
    count = AuditEvent.objects.count()
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert admin_client.post("/admin/audit/auditevent/add/", {"event_type": "decided"}).status_code == 403
    changed = admin_client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"decision": "approved", "_save": "1"})
    assert changed.status_code == 403
    deleted = admin_client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 403
    bulk = admin_client.post(
        "/admin/audit/auditevent/", {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    assert AuditEvent.objects.count() == count
    assert AuditEvent.objects.values().get(pk=event.pk) == before


# --- under a real ASGI server's handler -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_asgi_application_streams_the_export_in_several_body_messages(monkeypatch):
    """The production ASGI app (hitl.asgi): its request thread runs the cursor, chunk by chunk."""
    from hitl.asgi import application

    monkeypatch.setattr("audit.export.CHUNK_ROWS", 1)
    auditor = UserFactory(username="audrey", password="pw-audrey")
    auditor.groups.add(auditors_group())
    agent_create(name="one-bot")
    agent_create(name="two-bot")
    expected = ids(AuditEvent.objects.all())
    basic = b"Basic " + base64.b64encode(b"audrey:pw-audrey")

    async def call():
        sent, requested = [], asyncio.Event()

        async def receive():
            if not requested.is_set():
                requested.set()
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays connected

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": API, "raw_path": API.encode(), "query_string": b"format=jsonl", "root_path": "",
            "headers": [(b"host", b"localhost"), (b"authorization", basic)],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        }  # fmt: skip
        await application(scope, receive, send)
        return sent

    try:
        sent = async_to_sync(call)()
    finally:
        connections.close_all()
    start, *bodies = sent
    assert start["status"] == 200
    assert {name.lower(): value for name, value in start["headers"]}[b"content-type"] == b"application/x-ndjson"
    data = [message["body"] for message in bodies if message.get("body")]
    assert len(data) == len(expected)  # one message per row read: streamed, not gathered first
    assert [json.loads(chunk)["id"] for chunk in data] == expected
    assert bodies[-1].get("more_body", False) is False
