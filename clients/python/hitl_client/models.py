"""The Decision: an action as the service answered it, with the fields an agent branches on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["executed", "failed", "compensated", "compensation_failed"]

PENDING = "pending"
APPROVED = "approved"


@dataclass(frozen=True)
class Decision:
    """An action and where it stands.

    `approved` is True only when the action may run, and then `final_payload` is what to run
    (the reviewer's edit when `decision` is "modified"). `raw` is the service's whole answer.
    """

    action_id: str
    status: str
    final_payload: dict[str, Any] | None
    decision: str | None
    decided_by: str | None
    comment: str
    route: dict[str, Any]
    receipt: str | None
    version: int
    compensation: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False)
    replayed: bool = False
    """A submit's answer replayed for a repeated Idempotency-Key: the action as it was when first
    submitted, not as it is now."""

    @property
    def approved(self) -> bool:
        return self.status == APPROVED

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    @property
    def outcome(self) -> str | None:
        """The outcome the agent reported ("executed", "failed"), None before any."""
        return (self.raw.get("outcome") or {}).get("outcome") or None

    @property
    def compensation_requested(self) -> bool:
        """A post-action reviewer flagged what ran: undo it, then report "compensated" or "compensation_failed"."""
        return self.compensation is not None and self.compensation.get("status") == "requested"

    @property
    def reason(self) -> str:
        """Why the action ended as it did, in one line (for logs and ActionRejected)."""
        if self.status == "cancelled":
            return "Cancelled by the agent."
        if not self.decision:
            return self.status
        who = f" by {self.decided_by}" if self.decided_by else ""
        return f"{self.decision.capitalize()}{who}" + (f": {self.comment}" if self.comment else ".")

    @classmethod
    def from_api(cls, body: dict[str, Any], *, replayed: bool = False) -> Decision:
        decision = body.get("decision") or {}
        return cls(
            action_id=str(body["id"]),
            status=str(body["status"]),
            final_payload=body.get("final_payload"),
            decision=decision.get("decision"),
            decided_by=decision.get("by"),
            comment=decision.get("comment") or "",
            route=body.get("route") or {},
            receipt=body.get("receipt"),
            version=int(body.get("version", 0)),
            compensation=body.get("compensation"),
            raw=body,
            replayed=replayed,
        )
