"""/api/schema/ is written for an agent's developer: every operation and field described, no
maintainers' notes, examples the API accepts and answers as shown, the settings' real figures."""

import re
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from demo import data as demo
from hitl.api.docs import idempotency_retention
from hitl.models import ActionType
from hitl.services import agent_create, token_issue
from reviews.models import ReviewerGroup
from tests.conftest import bearer_client
from tests.factories import UserFactory

# Words of the code's internals and benchmarks, which have no place in what an agent's developer reads.
INTERNALS = re.compile(
    r"RenderedInView|InputSerializer|NoUnknownFields|APIView|finalize_response|deepcopy|__init__|"
    r"bench|throughput|µs|microsecond|\d\s?%",
    re.IGNORECASE,
)


def fetch_schema() -> dict:
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def schema(db):
    return fetch_schema()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def texts(node, where="$"):
    """Every description and summary in the schema, with where it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "summary") and isinstance(value, str):
                yield f"{where}.{key}", value
            else:
                yield from texts(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from texts(value, f"{where}[{index}]")


def resolve(schema, node):
    while "$ref" in node or "allOf" in node:
        node = node["allOf"][0] if "allOf" in node else node
        if "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_no_description_mentions_the_code_or_a_benchmark(schema):
    leaks = [(where, text) for where, text in texts(schema) if INTERNALS.search(text)]
    assert not leaks


def test_every_operation_has_its_own_summary_and_description(schema):
    descriptions = {}
    for name, operation in operations(schema):
        assert operation.get("summary"), name
        assert operation.get("description"), name
        descriptions[name] = operation["description"]
    assert len(set(descriptions.values())) == len(descriptions)


def test_every_field_and_component_is_described(schema):
    for name, component in schema["components"]["schemas"].items():
        if "enum" in component:
            continue
        assert component.get("description"), name
        for field, definition in component.get("properties", {}).items():
            assert definition.get("description"), f"{name}.{field}"


def test_every_property_of_the_submit_body_is_described(schema):
    submit = schema["paths"]["/api/v1/actions"]["post"]
    body = resolve(schema, submit["requestBody"]["content"]["application/json"]["schema"])
    entity = resolve(schema, body["properties"]["entity"])
    assert body["additionalProperties"] is False
    for field, definition in [*body["properties"].items(), *entity["properties"].items()]:
        assert definition.get("description"), field
    assert set(body["properties"]) >= {"blast_radius", "entity", "callback_url", "payload", "confidence"}


def test_errors_are_documented_with_their_shape(schema):
    error = schema["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"error", "message"}
    assert all(error["properties"][name]["description"] for name in ("error", "message", "fields"))
    assert '"error"' in schema["info"]["description"] and '"fields"' in schema["info"]["description"]
    for name, operation in operations(schema):
        for status, response in operation["responses"].items():
            assert response["description"], f"{name} {status}"
            if status.startswith("4"):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}


def test_agent_operations_declare_the_statuses_they_answer(schema):
    for name, operation in operations(schema):
        if name.startswith("POST"):
            assert {"401", "403", "413"} <= set(operation["responses"]), name
    submit = schema["paths"]["/api/v1/actions"]["post"]["responses"]
    assert {"200", "201", "400", "409", "415", "422"} <= set(submit)


def idempotency_texts(schema) -> list[str]:
    [header] = schema["paths"]["/api/v1/actions"]["post"]["parameters"]
    assert header["name"] == "Idempotency-Key"
    return [header["description"], schema["info"]["description"]]


def test_the_idempotency_retention_is_the_settings(settings, db):
    hours = settings.HITL_IDEMPOTENCY_TTL.total_seconds() / 3600
    assert idempotency_retention() == f"{hours:g} hours"
    assert all(f"kept {hours:g} hours" in text for text in idempotency_texts(fetch_schema()))

    settings.HITL_IDEMPOTENCY_TTL = timedelta(hours=72)
    assert all("kept 72 hours" in text for text in idempotency_texts(fetch_schema()))


def examples(operation, kind):
    """An operation's examples, request ("request") or response (a status), by summary."""
    if kind == "request":
        content = operation["requestBody"]["content"]["application/json"]
    else:
        content = operation["responses"][kind]["content"]["application/json"]
    return {example["summary"]: example["value"] for example in content.get("examples", {}).values()}


@pytest.fixture
def demo_setup(db):
    for fields in demo.ACTION_TYPES:  # no audit sampling: a drawn sample would add a review window
        ActionType.objects.create(**{**fields, "audit_sample_rate": 0})
    for fields in demo.GROUPS:
        ReviewerGroup.objects.update_or_create(key=fields["key"], defaults=fields)
    reviewer = UserFactory(username="tina")
    ReviewerGroup.objects.get(key="team").members.add(reviewer)
    _, token = agent_create(name="support-bot")
    return bearer_client(token), reviewer


def assert_answered_as_documented(real: dict, documented: dict):
    """`real` is the `documented` answer, but for what differs between two submits of one body (the
    id, the times) and reasons the policy may give besides the documented ones."""
    for key in ("status", "action_type", "summary", "task_id", "final_payload", "outcome", "version"):
        assert real[key] == documented[key], key
    assert (real["due_at"] is None) == (documented["due_at"] is None)
    assert untimed(real["decision"]) == untimed(documented["decision"])
    route, shown = real["route"], documented["route"]
    assert [route[key] for key in ROUTE_KEYS] == [shown[key] for key in ROUTE_KEYS]
    assert set(shown["reasons"]) <= set(route["reasons"])
    assert set(shown["reason_codes"]) <= set(route["reason_codes"])


ROUTE_KEYS = ("pattern", "tier", "reviewer_group", "threshold")


def untimed(decision: dict | None) -> dict | None:
    return decision and {key: value for key, value in decision.items() if key != "at"}


def test_submit_examples_are_accepted_and_answered_as_documented(schema, demo_setup):
    api, _ = demo_setup
    submit = schema["paths"]["/api/v1/actions"]["post"]
    requests, answers = examples(submit, "request"), examples(submit, "201")
    assert len(requests) == 3 and set(requests) == set(answers)
    assert {answer["route"]["pattern"] for answer in answers.values()} == {"autonomous", "post_action", "pre_action"}
    assert any(body["action_type"] == "send_email" for body in requests.values())

    first = {summary: api.post("/api/v1/actions", body, format="json") for summary, body in requests.items()}
    again = {summary: api.post("/api/v1/actions", body, format="json") for summary, body in requests.items()}
    for summary, answer in answers.items():
        assert first[summary].status_code == again[summary].status_code == 201, first[summary].content
        # An agent's first action of a type always waits: the examples that do not wait show a later one.
        real = first[summary] if answer["route"]["pattern"] == "pre_action" else again[summary]
        assert_answered_as_documented(real.json(), answer)


def test_a_submit_example_replayed_with_its_key_is_200(schema, demo_setup):
    api, _ = demo_setup
    body = next(iter(examples(schema["paths"]["/api/v1/actions"]["post"], "request").values()))
    first = api.post("/api/v1/actions", body, format="json", HTTP_IDEMPOTENCY_KEY="docs-example-1")
    replay = api.post("/api/v1/actions", body, format="json", HTTP_IDEMPOTENCY_KEY="docs-example-1")
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json() == first.json()


def test_preview_examples_are_answered_as_documented(schema, demo_setup):
    api, _ = demo_setup
    preview = schema["paths"]["/api/v1/actions/preview"]["post"]
    for body in examples(preview, "request").values():
        response = api.post("/api/v1/actions/preview", body, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["status"] in ("pending", "approved")
    assert set(examples(preview, "200")) == set(examples(preview, "request"))


def test_decision_and_outcome_examples_are_accepted(schema, demo_setup):
    api, reviewer = demo_setup
    email = examples(schema["paths"]["/api/v1/actions"]["post"], "request")
    body = next(body for body in email.values() if body["action_type"] == "send_email")
    decisions = examples(schema["paths"]["/api/v1/actions/{action_id}/decision"]["post"], "request")
    reviewer_api = bearer_client(token_issue(user=reviewer, label="docs"))
    for decision in decisions.values():
        action = api.post("/api/v1/actions", body, format="json").json()
        response = reviewer_api.post(f"/api/v1/actions/{action['id']}/decision", decision, format="json")
        assert response.status_code == 200, response.content
        if decision["decision"] == "modify":
            assert response.json()["final_payload"] == decision["payload"]
            [outcome] = examples(schema["paths"]["/api/v1/actions/{action_id}/outcome"]["post"], "request").values()
            reported = api.post(f"/api/v1/actions/{action['id']}/outcome", outcome, format="json")
            assert reported.status_code == 200, reported.content
