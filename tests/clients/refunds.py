"""What the framework adapters' tests share: a refund action type (as the demo seeds it), a refund
tool that records its calls, and an expiry driven through the SLA sweep."""

from datetime import timedelta

from django.utils import timezone

from escalation.services import escalation_sweep
from hitl.models import Action
from tests.factories import ActionTypeFactory

REFUND_SCHEMA = {
    "type": "object",
    "required": ["order_id", "amount", "currency"],
    "properties": {
        "order_id": {"type": "string"},
        "amount": {"type": "number", "exclusiveMinimum": 0},
        "currency": {"type": "string", "enum": ["USD", "EUR", "GBP"]},
        "reason": {"type": "string"},
    },
    "additionalProperties": False,
}
REFUND_FIELDS = {
    "summary": lambda order_id, amount, currency, **_: f"Refund {amount} {currency} on order {order_id}",
    "confidence": 0.8,
}


def refund_type(**overrides):
    """issue_refund, irreversible (so every refund waits for a reviewer of the tier groups)."""
    return ActionTypeFactory(
        **{"key": "issue_refund", "name": "Issue refund", "domain": "finance", "irreversible": True,
           "payload_schema": REFUND_SCHEMA, **overrides}
    )  # fmt: skip


def refund_tool(calls: list):
    """The refund tool: records each call in `calls`, returns what it did."""

    def issue_refund(order_id: str, amount: float, currency: str = "USD", reason: str = "") -> str:
        """Refund an order to the customer's original payment method."""
        calls.append({"order_id": order_id, "amount": amount, "currency": currency, "reason": reason})
        return f"refunded {amount} {currency} on order {order_id}"

    return issue_refund


def expire(action_id) -> Action:
    """Run the SLA sweep ever later until the action leaves pending (through every tier to expiry)."""
    later = timezone.now()
    while (action := Action.objects.get(pk=action_id)).status == "pending":
        later += timedelta(days=1)
        escalation_sweep(now=later)
    return action
