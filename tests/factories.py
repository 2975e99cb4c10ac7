import factory
from django.contrib.auth import get_user_model

from hitl.models import ActionType, Agent
from reviews.models import ReviewerGroup

EMAIL_SCHEMA = {
    "type": "object",
    "required": ["to", "subject"],
    "properties": {
        "to": {"type": "string", "format": "email"},
        "subject": {"type": "string"},
        "body": {"type": "string"},
    },
    "additionalProperties": False,
}


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    name = factory.Sequence(lambda n: f"agent-{n}")


class ActionTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ActionType
        django_get_or_create = ["key"]

    key = "send_email"
    name = "Send email"
    domain = "comms"
    irreversible = True
    payload_schema = EMAIL_SCHEMA
    audit_sample_rate = 0.0  # deterministic routes: a test of sampling sets its own


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"reviewer{n}")
    password = factory.django.Password("pw-for-tests")


class ReviewerGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReviewerGroup
        django_get_or_create = ["key"]

    key = "team"
    name = factory.LazyAttribute(lambda o: o.key.title())
    kind = ReviewerGroup.Kind.TIER
    rank = 1
