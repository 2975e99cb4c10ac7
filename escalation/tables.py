"""The dashboard's tables as rows, for its CSV downloads (escalation.views.dashboard_table)."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    title: str
    rows: Callable  # Figures -> (header, rows)


def _iso(moment) -> str:
    return moment.isoformat() if moment else ""


def _waiting(f):
    header = ["tier", "group", "pending", "at_risk", "oldest_submitted_at", "most_sla_used"]
    return header, [
        [w.tier, w.group, w.pending, w.at_risk, _iso(w.oldest), "" if w.most_used is None else round(w.most_used, 4)]
        for w in f.now.groups
    ]


def _sla(f):
    header = ["tier", "sla_seconds", "decided", "p50_seconds", "p95_seconds", "escalated", "expired", "breach_rate",
              "lateness_mean_seconds", "lateness_max_seconds"]  # fmt: skip
    return header, [
        [r.tier, r.sla, r.decided, r.p50, r.p95, r.escalated, r.expired, r.breach_rate, r.late_mean, r.late_max]
        for r in f.sla
    ]


def _sla_series(f):
    header = ["tier", "bucket_start", "decided", "p50_seconds", "p95_seconds", "breaches"]
    return header, [[r.tier, _iso(start), *rest] for r in f.sla for start, *rest in r.series]


def _capacity(f):
    header = ["day", "submitted", "routed_to_people", "decided", "capacity"]
    return header, [[day.isoformat(), s, r, d, f.capacity.capacity] for day, s, r, d in f.capacity.days]


def _groups(f):
    header = ["group", "kind", "active_members", "daily_capacity", "pending", "routed_today", "overflowed"]
    return header, [
        [g.key, g.kind, g.active, g.daily_capacity, g.pending, g.routed_today, g.overflowed] for g in f.capacity.groups
    ]


def _reviewers(f):
    header = ["reviewer", "verdicts", "approvals", "rejections", "post_action", "holding", "oldest_claim", "wip_cap"]
    return header, [
        [r.username, r.verdicts, r.approvals, r.rejections, r.post_action, r.holding, _iso(r.oldest_claim), r.wip_cap]
        for r in f.capacity.reviewers
    ]


def _mix(which):
    def rows(f):
        header = [which, "verdicts", "approved", "modified", "rejected", "confirmed", "flagged", "modification_rate",
                  "chronic"]  # fmt: skip
        mixes = f.types if which == "action_type" else f.agents
        return header, [
            [m.name, m.n, m.approved, m.modified, m.rejected, m.confirmed, m.flagged, m.modification_rate, m.chronic]
            for m in mixes
        ]

    return rows


TABLES = {
    "waiting": Table("Waiting now, per tier and group", _waiting),
    "sla": Table("SLA performance per tier", _sla),
    "sla-series": Table("SLA performance per tier over time", _sla_series),
    "capacity": Table("Submitted, routed and decided per day", _capacity),
    "groups": Table("Reviewer groups' load", _groups),
    "reviewers": Table("Reviewers' throughput and claims", _reviewers),
    "quality-types": Table("Verdicts per action type", _mix("action_type")),
    "quality-agents": Table("Verdicts per agent", _mix("agent")),
}
