"""Demo data for `make run`: action types, reviewer groups and users, realistic proposals, and
the truths behind them (how often the demo agent is right), which the demo reviewer decides by."""

import random
from dataclasses import dataclass

EMAIL = {
    "type": "object",
    "required": ["to", "subject", "body"],
    "properties": {
        "to": {"type": "string", "format": "email"},
        "subject": {"type": "string", "maxLength": 200},
        "body": {"type": "string"},
    },
    "additionalProperties": False,
}
REFUND = {
    "type": "object",
    "required": ["order_id", "amount", "currency"],
    "properties": {
        "order_id": {"type": "string"},
        "amount": {"type": "number", "exclusiveMinimum": 0},
        "currency": {"type": "string", "enum": ["USD", "EUR", "GBP"]},
        "reason": {"type": "string"},
    },
}
DELETE = {
    "type": "object",
    "required": ["table", "filter", "count"],
    "properties": {
        "table": {"type": "string"},
        "filter": {"type": "object"},
        "count": {"type": "integer", "minimum": 1},
    },
}
BULK = {
    "type": "object",
    "required": ["segment", "channel", "message"],
    "properties": {
        "segment": {"type": "string"},
        "channel": {"type": "string", "enum": ["email", "sms", "push"]},
        "message": {"type": "string"},
    },
}
TRADE = {
    "type": "object",
    "required": ["symbol", "side", "quantity"],
    "properties": {
        "symbol": {"type": "string", "pattern": "^[A-Z.]{1,6}$"},
        "side": {"type": "string", "enum": ["buy", "sell"]},
        "quantity": {"type": "integer", "minimum": 1},
        "limit_price": {"type": "number", "exclusiveMinimum": 0},
    },
}
PREFERENCE = {
    "type": "object",
    "required": ["user_id", "key", "value"],
    "properties": {"user_id": {"type": "string"}, "key": {"type": "string"}, "value": {}},
}

ACTION_TYPES = [
    dict(
        key="send_email",
        name="Send email",
        domain="comms",
        irreversible=True,
        payload_schema=EMAIL,
        description="Send an email to a customer or colleague.",
    ),
    dict(
        key="issue_refund",
        name="Issue refund",
        domain="finance",
        irreversible=True,
        payload_schema=REFUND,
        reviewer_group="finance",
        description="Refund an order to the customer's original payment method.",
    ),
    dict(
        key="delete_records",
        name="Delete records",
        domain="data",
        irreversible=True,
        payload_schema=DELETE,
        description="Permanently delete rows matching a filter.",
    ),
    dict(
        key="bulk_notify",
        name="Bulk notification",
        domain="comms",
        irreversible=True,
        payload_schema=BULK,
        description="Notify a whole customer segment.",
    ),
    dict(
        key="execute_trade",
        name="Execute trade",
        domain="finance",
        irreversible=True,
        compliance_sensitive=True,  # always tier3: two executives approve it (four-eyes)
        payload_schema=TRADE,
        reviewer_group="",
        description="Place an order on the market.",
    ),
    dict(
        key="update_preference",
        name="Update preference",
        domain="account",
        irreversible=False,
        payload_schema=PREFERENCE,
        description="Change one of a user's settings.",
    ),
]

# Daily capacities (100 decisions a day in all, the design's example) give the lead dashboard its
# capacity line; the demo agent submits far more than that within minutes, so the dashboard soon
# shows what routing to people costs and what would relieve it. No group has a fallback, so none
# of the demo's items overflow.
GROUPS = [
    dict(key="team", name="Team reviewers", kind="tier", rank=1, daily_capacity=50),
    dict(key="lead", name="Team leads", kind="tier", rank=2, daily_capacity=30),
    dict(key="executive", name="Executives", kind="tier", rank=3, daily_capacity=10),
    dict(key="finance", name="Finance experts", kind="expertise", rank=0, daily_capacity=10),
]

# username, password, groups, staff
USERS = [
    ("tina", "tina-review", ["team"], False),
    ("leo", "leo-review", ["lead"], False),
    ("eve", "eve-review", ["executive"], False),
    ("ed", "ed-review", ["executive"], False),  # tier3 needs two approvers (four-eyes)
    ("fiona", "fiona-review", ["finance"], False),
]
ADMIN = ("admin", "admin-demo")

AGENT_NAME = "demo-agent"

# The demo reviewer (demo_reviewer) decides as these: one per reviewer group, two executives for
# tier3's four-eyes. Nobody logs in as them.
REVIEW_BOTS = [
    ("bot-team", ["team"]),
    ("bot-lead", ["lead"]),
    ("bot-exec-1", ["executive"]),
    ("bot-exec-2", ["executive"]),
    ("bot-finance", ["finance"]),
]

CUSTOMERS = [
    ("Jane Park", "jane@example.com"),
    ("Omar Diaz", "omar@example.com"),
    ("Li Wei", "li.wei@example.com"),
    ("Ada Stone", "ada@example.com"),
    ("Sam Cole", "sam.cole@example.com"),
]


@dataclass(frozen=True)
class Truth:
    """How the demo agent states its confidence on a type, and how often it is really right."""

    stated: tuple[float, float] | None = None  # confidence drawn uniformly from this range; None: the usual spread
    right: float | None = None  # its chance of being right whatever it states; None: calibrated (its confidence)

    def chance(self, confidence: float) -> float:
        return confidence if self.right is None else self.right


CALIBRATED = Truth()
# The calibration page shows both shapes within minutes of `make run`: dots under the diagonal for
# the over-confident type, over it for the under-confident one, on it for the others.
TRUTHS = {
    "update_preference": Truth(stated=(0.80, 0.97), right=0.55),  # over-confident, and it runs on its own
    "send_email": Truth(stated=(0.45, 0.70), right=0.93),  # under-confident: it hedges, yet is nearly always right
}
# update_preference mostly runs on its own (autonomous): its labels come from audit samples, so the
# demo seed samples half of them rather than the default 2 %, and the over-confidence shows in minutes.
AUDIT_SAMPLE_RATES = {"update_preference": 0.5}
MODIFY_SHARE = 0.5  # of the wrong proposals a reviewer can correct (CORRECTIONS), the share edited, not rejected

# How a reviewer corrects a wrong proposal of a type; the wrong ones of other types are rejected.
CORRECTIONS = {
    "send_email": lambda p: {**p, "body": f"{p['body']} Sorry it took us a while."},
    "issue_refund": lambda p: {**p, "amount": round(p["amount"] / 2, 2)},
    "execute_trade": lambda p: {**p, "quantity": max(1, p["quantity"] // 10)},
    "update_preference": lambda p: {**p, "value": not p["value"]},
}


def truth(action_type: str) -> Truth:
    return TRUTHS.get(action_type, CALIBRATED)


def is_right(action_type: str, confidence: float, action_id) -> bool:
    """Whether the demo agent's action is right: a draw with the type's true chance at the stated
    confidence, seeded by the action's id, so it is the same answer every time it is asked."""
    return random.Random(f"right:{action_id}").random() < truth(action_type).chance(confidence)


def correction(action_type: str, payload: dict, action_id) -> dict | None:
    """The edit a reviewer makes of a wrong proposal, or None when they reject it (seeded by the
    action's id)."""
    edit = CORRECTIONS.get(action_type)
    if edit is None or random.Random(f"edit:{action_id}").random() >= MODIFY_SHARE:
        return None
    return edit(payload)


def _confidence(rng: random.Random, action_type: str) -> float:
    stated = truth(action_type).stated
    if stated is not None:
        return round(rng.uniform(*stated), 2)
    return round(min(0.99, max(0.05, rng.betavariate(6, 1.8))), 2)


def proposal(rng: random.Random, seq: int) -> dict:
    """One realistic submit body, with varied confidence and risk."""
    name, email = rng.choice(CUSTOMERS)
    order = f"{rng.randint(1000, 9999)}"
    amount = round(rng.choice([12.5, 40, 89.99, 250, 1200]), 2)
    kind = rng.choices(["email", "refund", "delete", "bulk", "trade", "pref"], weights=[5, 4, 1, 1, 1, 5])[0]
    entity = {"id": f"cust_{rng.randint(1, 500)}", "tags": ["vip"] if rng.random() < 0.1 else []}
    if kind == "email":
        body = dict(
            action_type="send_email",
            payload={
                "to": email,
                "subject": f"About your order {order}",
                "body": f"Hi {name.split()[0]}, your order {order} has shipped.",
            },
            summary=f"Email {name} that order {order} shipped",
            blast_radius=1,
        )
    elif kind == "refund":
        body = dict(
            action_type="issue_refund",
            payload={"order_id": order, "amount": amount, "currency": "USD", "reason": "damaged on arrival"},
            summary=f"Refund ${amount} to {name} for order {order}",
            blast_radius=1,
        )
    elif kind == "delete":
        count = rng.choice([3, 40, 800, 25000])
        body = dict(
            action_type="delete_records",
            payload={"table": "sessions", "filter": {"older_than_days": 90}, "count": count},
            summary=f"Delete {count} stale sessions older than 90 days",
            blast_radius=count,
        )
    elif kind == "bulk":
        size = rng.choice([120, 4000, 52000])
        body = dict(
            action_type="bulk_notify",
            payload={"segment": "trial_ending", "channel": "email", "message": "Your trial ends in 3 days."},
            summary=f"Notify {size} trial users that their trial ends soon",
            blast_radius=size,
        )
    elif kind == "trade":
        qty = rng.choice([10, 100, 1000])
        body = dict(
            action_type="execute_trade",
            payload={"symbol": rng.choice(["ACME", "GLOBX", "INIT"]), "side": "buy", "quantity": qty},
            summary=f"Buy {qty} shares to rebalance the treasury portfolio",
            blast_radius=1,
        )
    else:
        body = dict(
            action_type="update_preference",
            payload={"user_id": entity["id"], "key": "newsletter", "value": False},
            summary=f"Unsubscribe {name} from the newsletter",
            blast_radius=1,
        )
    body.update(
        reasoning=f"Ticket {seq}: the customer asked for this and policy allows it.",
        context={"user_request": body["summary"], "documents": [], "conversation": [], "tool_calls": []},
        confidence=_confidence(rng, body["action_type"]),
        entity=entity,
        task_id=f"ticket-{seq}",
    )
    return body
