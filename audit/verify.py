"""Checks the audit log's chains and anchors (audit.chain, audit.anchors): run by
`manage.py verify_audit` and daily by beat (audit.tasks.verify_audit_trail).

- Each event's hash is recomputed from its row: a mismatch means the row was **edited**.
- Within a chain, seq runs 1, 2, 3…: a gap means events are **missing** (deleted).
- Each event's prev_hash is its predecessor's hash: a broken link means an event was **inserted**,
  or its predecessor edited and re-hashed.
- Each anchor's signature (which covers the one before it) is checked with HITL_AUDIT_KEY or a
  key it replaced (HITL_AUDIT_KEY_FALLBACKS, newest first; never older than the last anchor's), and
  the count and digest of the events in its range are recomputed: this catches what a chain
  cannot, such as a whole chain re-hashed after an edit, or the last event of a chain deleted.

Everything is read through server-side cursors, in the order of the chains' index, so memory
stays flat however long the log. Hashes are computed here, in Python, from the canonical JSON
PostgreSQL renders with its built-in functions only.
"""

import hashlib
import hmac
from dataclasses import dataclass, field

from django.core.mail import mail_admins
from django.db import connection, transaction

from . import chain
from .anchors import anchor_signer, audit_keys, segment_digest
from .models import AuditAnchor
from .services import Type, audit_record

EDITED, MISSING, INSERTED, ANCHOR = "edited", "missing", "inserted", "anchor"
MAX_PROBLEMS = 100  # reported in full; the count goes on


@dataclass(frozen=True)
class Problem:
    event_id: int  # the first event found wrong (for an anchor, the first id of its range)
    kind: str  # EDITED, MISSING, INSERTED or ANCHOR
    detail: str

    def __str__(self):
        return f"event #{self.event_id}: {self.kind}: {self.detail}"


@dataclass
class Report:
    events: int = 0
    chains: int = 0
    anchors: int = 0
    pruned_anchors: int = 0
    unanchored: int = 0  # events after the last anchor: covered by their chains only
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def intact(self) -> bool:
        return self.problem_count == 0

    @property
    def first(self) -> Problem | None:
        return min(self.problems, key=lambda p: p.event_id, default=None)

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


def audit_verify() -> Report:
    """Check every chain and anchor. Needs PostgreSQL with the chain installed."""
    if not chain.installed():
        raise RuntimeError("this database has no audit chain: its triggers are not installed (audit.chain)")
    report = Report()
    with transaction.atomic():
        pruned_through = _verify_anchors(report)
        _verify_chains(report, pruned_through)
    return report


def _verify_chains(report: Report, pruned_through: int) -> None:
    canonical = chain.CANONICAL_SQL.format(r="e")
    previous = None  # (action_id, id, seq, hash) of the event before, in chain order
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            f"SELECT e.id, e.action_id, e.seq, e.prev_hash, e.hash, {canonical}"
            f" FROM {chain.TABLE} e ORDER BY e.action_id, e.seq"
        )
        while rows := cursor.fetchmany(2000):
            for event_id, action_id, seq, prev_hash, stored, text in rows:
                report.events += 1
                which = f"action {action_id}" if action_id else "the global chain"
                if hashlib.sha256(text.encode()).hexdigest() != stored:
                    detail = f"its content ({which}, seq {seq}) no longer matches its hash"
                    report.add(Problem(event_id, EDITED, detail))
                if previous is None or previous[0] != action_id:
                    report.chains += 1
                    if seq != 1 and not pruned_through:
                        report.add(
                            Problem(event_id, MISSING, f"{which} starts at seq {seq}: events 1 to {seq - 1} are gone")
                        )
                    elif seq == 1 and prev_hash:
                        report.add(Problem(event_id, INSERTED, f"first of {which} but links to an earlier event"))
                elif seq != previous[2] + 1:
                    report.add(
                        Problem(
                            event_id,
                            MISSING,
                            f"{seq - previous[2] - 1} event(s) of {which} missing between event #{previous[1]} "
                            f"(seq {previous[2]}) and this one (seq {seq})",
                        )
                    )
                elif not hmac.compare_digest(prev_hash, previous[3]):
                    report.add(
                        Problem(
                            event_id,
                            INSERTED,
                            f"does not link to event #{previous[1]} before it in {which}: an event was inserted, "
                            f"or event #{previous[1]} was edited and re-hashed",
                        )
                    )
                previous = (action_id, event_id, seq, stored)


def _verify_anchors(report: Report) -> int:
    """Check the anchors in order; return the id through which retention pruned events."""
    signature, after, pruned_through = "", 0, 0
    keys = audit_keys()
    allowed = len(keys)  # keys are newest first; no anchor may use an older key than one before it
    for anchor in AuditAnchor.objects.order_by("id").iterator():
        report.anchors += 1
        signer = anchor_signer(anchor, previous=signature, keys=keys)
        if signer is None:
            report.add(
                Problem(
                    after + 1,
                    ANCHOR,
                    f"anchor {anchor.pk}'s signature is not valid (forged, re-signed, or signed with a key that is "
                    "neither HITL_AUDIT_KEY nor in HITL_AUDIT_KEY_FALLBACKS)",
                )
            )
        elif signer >= allowed:
            report.add(
                Problem(
                    after + 1,
                    ANCHOR,
                    f"anchor {anchor.pk} is signed with a key older than an earlier anchor's: a retired key "
                    "may not sign after its successor has",
                )
            )
        else:
            allowed = signer + 1
        if anchor.pruned_at:
            report.pruned_anchors += 1
            pruned_through = anchor.last_event_id
        else:
            count, digest, first = segment_digest(after, anchor.last_event_id)
            first = first or after + 1
            if count != anchor.event_count:
                report.add(
                    Problem(
                        first,
                        ANCHOR,
                        f"anchor {anchor.pk} covered {anchor.event_count} events with ids {after + 1} to "
                        f"{anchor.last_event_id}; {count} are there now (deleted or inserted)",
                    )
                )
            elif not hmac.compare_digest(digest, anchor.digest):
                report.add(
                    Problem(
                        first,
                        ANCHOR,
                        f"the events with ids {first} to {anchor.last_event_id} are not those anchor "
                        f"{anchor.pk} signed (one was edited and re-hashed, or replaced)",
                    )
                )
        signature, after = anchor.signature, anchor.last_event_id
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {chain.TABLE} WHERE id > %s", [after])
        report.unanchored = cursor.fetchone()[0]
    return pruned_through


def audit_alert(report: Report) -> None:
    """Tell the admins the log is broken: by mail (ADMINS) and as an `audit_broken` event."""
    first = report.first
    mail_admins(
        subject=f"Audit log broken: {first}",
        message="verify_audit found {} problem(s):\n\n{}".format(
            report.problem_count, "\n".join(str(p) for p in sorted(report.problems, key=lambda p: p.event_id))
        ),
    )
    audit_record(
        event_type=Type.AUDIT_BROKEN,
        data={"problems": report.problem_count, "first_event": first.event_id, "first": str(first)},
    )
