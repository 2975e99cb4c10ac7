"""Input serializers bind cheap copies of their declared fields; no instance's change reaches another."""

from hitl.api.serializers import ActionSubmitIn

BAD_ENTITY = {"id": "cust_42", "tags": ["vip", 7]}


def test_each_instance_binds_its_own_fields_and_leaves_the_declared_ones_alone(db):
    declared = ActionSubmitIn._declared_fields["summary"]
    first, second = ActionSubmitIn(), ActionSubmitIn()
    summary = first.fields["summary"]
    assert summary is not second.fields["summary"] and summary is not declared
    assert (summary.field_name, summary.parent) == ("summary", first)
    assert second.fields["summary"].parent is second and declared.parent is None and declared.field_name is None

    summary.validators.append(lambda value: None)
    summary.error_messages["blank"] = "changed on one instance"
    assert len(second.fields["summary"].validators) == len(declared.validators) == len(summary.validators) - 1
    assert (
        second.fields["summary"].error_messages["blank"]
        == declared.error_messages["blank"]
        != "changed on one instance"
    )

    tags = [serializer.fields["entity"].fields["tags"] for serializer in (first, second)]
    assert tags[0] is not tags[1] and tags[0].child is not tags[1].child  # fields holding fields are deep-copied
    assert tags[0].child.parent is tags[0]


def test_two_instances_validate_independently(db):
    body = {"action_type": "nope", "payload": {}, "summary": "", "confidence": 2, "entity": BAD_ENTITY}
    first, second = ActionSubmitIn(data=body), ActionSubmitIn(data={**body, "summary": "fine", "confidence": 0.5})
    assert not first.is_valid() and not second.is_valid()
    assert set(first.errors) == {"action_type", "summary", "confidence", "entity"}
    assert set(second.errors) == {"action_type", "entity"}
    assert first.errors["entity"] == second.errors["entity"] == {"tags": {1: ["Must be a string."]}}
