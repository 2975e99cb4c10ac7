"""The edit form generated from a JSON Schema, and the payload read back from what the form posts."""

from reviews.payload_form import build, changes, parse

SCHEMA = {
    "type": "object",
    "required": ["amount", "currency"],
    "properties": {
        "amount": {"type": "number", "minimum": 0},
        "quantity": {"type": "integer"},
        "currency": {"enum": ["USD", "EUR", 3]},
        "notify": {"type": "boolean"},
        "note": {"type": "string"},  # no maxLength: long text is allowed, so a textarea
        "code": {"type": "string", "maxLength": 12},
        "email": {"type": "string", "format": "email"},
        "customer": {"type": "object", "properties": {"id": {"type": "string"}, "tier/level": {"type": "string"}}},
        "tags": {"type": "array", "items": {"type": "string"}},
        "lines": {
            "type": "array",
            "items": {"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}}},
        },
        "meta": {"oneOf": [{"type": "string"}, {"type": "object"}]},
    },
}
PAYLOAD = {
    "amount": 40.5,
    "quantity": 2,
    "currency": "EUR",
    "notify": True,
    "note": "thanks",
    "customer": {"id": "cust_42", "tier/level": "gold"},
    "tags": ["vip", "refund"],
    "lines": [{"sku": "A-1", "qty": 1}, {"sku": "B-2", "qty": 3}],
    "meta": {"source": "chat"},
    "extra": [1, 2],  # not in the schema: kept, editable as JSON
}


def posted(field, data=None):
    """What a browser posts for the form tree, untouched."""
    data = {} if data is None else data
    if field.kind in ("object", "items"):
        for child in field.children:
            posted(child, data)
    elif field.kind == "boolean":
        if field.value:
            data[field.name] = "1"
    else:
        data[field.name] = field.value
    return data


def kinds(field):
    return {child.name: child.kind for child in field.children}


def test_each_schema_construct_gets_its_own_input():
    form = build(SCHEMA, PAYLOAD)
    assert kinds(form) == {
        "payload/amount": "number",
        "payload/quantity": "integer",
        "payload/currency": "enum",
        "payload/notify": "boolean",
        "payload/note": "text",
        "payload/code": "string",
        "payload/email": "string",
        "payload/customer": "object",
        "payload/tags": "lines",
        "payload/lines": "items",
        "payload/meta": "json",
        "payload/extra": "json",
    }
    customer = next(c for c in form.children if c.name == "payload/customer")
    assert [c.name for c in customer.children] == ["payload/customer/id", "payload/customer/tier~1level"]


def test_an_untouched_form_gives_back_the_payload():
    assert parse(SCHEMA, posted(build(SCHEMA, PAYLOAD)), PAYLOAD) == (PAYLOAD, {})


def test_edits_come_back_typed():
    data = posted(build(SCHEMA, PAYLOAD))
    data.update({
        "payload/amount": "35", "payload/currency": "2", "payload/tags": "vip\n\nloyal\n",
        "payload/lines/0/__remove": "1", "payload/customer/tier~1level": "silver", "payload/meta": '"phone"',
    })  # fmt: skip
    del data["payload/notify"]  # an unticked checkbox posts nothing
    edited, errors = parse(SCHEMA, data, PAYLOAD)
    assert errors == {}
    assert edited["amount"] == 35 and edited["currency"] == 3 and edited["notify"] is False
    assert edited["tags"] == ["vip", "loyal"] and edited["lines"] == [{"sku": "B-2", "qty": 3}]
    assert edited["customer"]["tier/level"] == "silver" and edited["meta"] == "phone"


def test_bad_values_are_reported_by_json_path_and_keep_the_old_value():
    data = posted(build(SCHEMA, PAYLOAD))
    data.update({"payload/quantity": "2.5", "payload/amount": "lots", "payload/meta": "{", "payload/currency": "9"})
    edited, errors = parse(SCHEMA, data, PAYLOAD)
    assert set(errors) == {"$.quantity", "$.amount", "$.meta", "$.currency"}
    assert errors["$.quantity"] == "Enter a whole number." and errors["$.meta"].startswith("Not valid JSON")
    assert edited["quantity"] == 2


def test_an_optional_field_left_empty_stays_absent():
    payload = {"amount": 1, "currency": "USD"}
    edited, errors = parse(SCHEMA, posted(build(SCHEMA, payload)), payload)
    assert (edited, errors) == (payload, {})


def test_a_schema_without_properties_is_edited_as_json():
    form = build({"type": "object"}, {"a": 1})
    assert form.kind == "json" and '"a": 1' in form.value
    assert parse(None, {"payload": '{"a": 2}'}, {"a": 1}) == ({"a": 2}, {})


def test_changes_read_as_json_patch_with_the_old_values():
    (change,) = changes({"subject": "Hi", "to": "a@b.c"}, {"subject": "Hello", "to": "a@b.c"})
    assert (change.op, change.path, change.before, change.after) == ("replace", "/subject", "Hi", "Hello")
