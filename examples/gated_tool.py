"""A tool gated on a human decision, against `make run`.

    python manage.py create_agent my-agent        # prints the webhook secret, then the token
    HITL_TOKEN=<token> python examples/gated_tool.py

The refund waits for a reviewer of the finance queue (log in at http://127.0.0.1:8000/reviews/ as a
seeded reviewer); it runs only once approved, with the reviewer's edits, and never if rejected.
"""

import os

from hitl_client import ActionRejected, Client

hitl = Client(os.environ.get("HITL_URL", "http://127.0.0.1:8000"), os.environ["HITL_TOKEN"])


@hitl.gate(
    "issue_refund",
    summary=lambda order_id, amount, currency, **_: f"Refund {amount} {currency} for order {order_id}",
    confidence=0.8,
    reasoning="The customer reports the parcel arrived damaged; order is within the 30-day window.",
    timeout=15 * 60,
)
def issue_refund(order_id: str, amount: float, currency: str = "USD", reason: str = "") -> str:
    """The real side effect would go here (a payments API call)."""
    return f"refunded {amount} {currency} on order {order_id}"


if __name__ == "__main__":
    try:
        print(issue_refund("881", 40.0, reason="damaged on arrival"))
    except ActionRejected as rejected:
        print(f"Not refunded: {rejected.reason}")
