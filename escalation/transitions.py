"""The SLA transitions, applied to a batch of locked actions in one statement.

For each action the sweep holds, PostgreSQL works out what is due at `now` and applies it:

- a post-action review window that has run out closes (`review_window_closed`);
- an action decided or cancelled meanwhile just stops being due;
- a pending action past its deadline escalates to the next step of the path routing copied onto it
  (new tier, group and deadline: `escalated`), or, at the end of the path or when its step says
  so, expires (the agent's answer: `expired`);
- a pending action not announced yet is announced (stage 1);
- otherwise a warning point has passed (`warned`). A sweep that ran late sends only the latest
  warning due, not every one it missed.

One UPDATE changes the rows and one INSERT writes their audit events: the same statement for any
batch, and no row is decoded into Python but the few columns the caller needs afterwards
(`Moved`). Announcing and warning leave the action's version alone: a reviewer's open page stays
valid; an escalation or an expiry bumps it.

Stages: 0 = not announced; k > 0 = announced, with k - 1 warnings sent at this step. A step is
{"tier", "group", "sla" (seconds), "warn_at" (fractions of the SLA), "on_breach", "page"}.
"""

from datetime import datetime
from typing import NamedTuple

from django.db import connection


def iso_utc(column: str) -> str:
    """SQL for datetime.isoformat() of a timestamptz in UTC, as Python writes one into JSON."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN mod(extract(microseconds FROM {utc})::int, 1000000) = 0 THEN '' ELSE to_char({utc}, '.US') END"
        " || '+00:00'"
    )


# Seconds of a step's SLA times a warning point: an interval.
_AT = "make_interval(secs => {sla} * {fraction})"

TRANSITION_SQL = f"""
WITH due AS (
    SELECT a.id, a.status, a.route_pattern, a.sampled, a.due_at, a.sla_stage, a.route_tier, a.reviewer_group,
        a.created_at,
        a.escalation_path -> a.escalation_step AS step,
        a.escalation_path -> (a.escalation_step + 1) AS following,
        (a.escalation_path -> a.escalation_step ->> 'sla')::float8 AS sla
    FROM hitl_action a
    WHERE a.id = ANY(%(ids)s)
), judged AS (
    SELECT due.*,
        CASE
            WHEN status <> 'pending' THEN
                CASE WHEN (route_pattern = 'post_action' OR sampled) AND status = 'approved' AND due_at <= %(now)s
                THEN 'review_window_closed' ELSE 'settled' END
            -- A pending action whose path has no current step cannot be judged: fail the batch, naming it.
            WHEN step IS NULL THEN ('escalation path of action ' || id || ' has no step here')::int::text
            WHEN due_at <= %(now)s THEN
                CASE WHEN step ->> 'on_breach' = 'escalate' AND following IS NOT NULL
                THEN 'escalated' ELSE 'expired' END
            WHEN sla_stage = 0 THEN 'announced'
            ELSE 'warned'
        END AS kind,
        due_at - make_interval(secs => sla) AS started,
        CASE WHEN status = 'pending' AND due_at > %(now)s AND sla_stage > 0 THEN  -- a warning: which one
            (SELECT count(*)::int FROM jsonb_array_elements_text(step -> 'warn_at') AS w (fraction)
             WHERE due_at - make_interval(secs => sla) + {_AT.format(sla="sla", fraction="w.fraction::float8")}
                <= %(now)s)
        END AS passed
    FROM due
), moved AS (
    UPDATE hitl_action a SET
        status = CASE j.kind WHEN 'expired' THEN 'expired' ELSE a.status END,
        decision = CASE j.kind WHEN 'expired' THEN 'expired' ELSE a.decision END,
        decided_at = CASE j.kind WHEN 'expired' THEN %(now)s ELSE a.decided_at END,
        decision_comment = CASE j.kind
            WHEN 'expired' THEN 'No reviewer decided within the ' || (j.step ->> 'tier') || ' SLA; expired.'
            ELSE a.decision_comment END,
        route_tier = CASE j.kind WHEN 'escalated' THEN j.following ->> 'tier' ELSE a.route_tier END,
        reviewer_group = CASE j.kind WHEN 'escalated' THEN j.following ->> 'group' ELSE a.reviewer_group END,
        due_at = CASE j.kind
            WHEN 'escalated' THEN %(now)s + make_interval(secs => (j.following ->> 'sla')::float8)
            ELSE a.due_at END,
        escalation_step = a.escalation_step + (j.kind = 'escalated')::int,
        sla_stage = CASE j.kind WHEN 'escalated' THEN 1 WHEN 'announced' THEN 1 WHEN 'warned' THEN j.passed + 1
            ELSE a.sla_stage END,
        -- The next event: the next warning point of the step, else its deadline; nothing once over.
        sla_next_at = CASE j.kind
            WHEN 'escalated' THEN %(now)s + {
    _AT.format(sla="(j.following ->> 'sla')::float8", fraction="coalesce((j.following -> 'warn_at' ->> 0)::float8, 1)")
}
            WHEN 'announced' THEN coalesce(
                j.started + {_AT.format(sla="j.sla", fraction="(j.step -> 'warn_at' ->> 0)::float8")}, a.due_at)
            WHEN 'warned' THEN coalesce(
                j.started + {_AT.format(sla="j.sla", fraction="(j.step -> 'warn_at' ->> j.passed)::float8")}, a.due_at)
            END,
        -- Only a new tier or the end changes what a reviewer decides on: announcing and warning leave
        -- the version (and so the reviewers' open pages) as it was.
        version = a.version + (j.kind IN ('escalated', 'expired'))::int,
        updated_at = CASE WHEN a.status = 'pending' THEN %(now)s ELSE a.updated_at END
    FROM judged j
    WHERE a.id = j.id
    RETURNING a.id, j.kind, a.agent_id, a.action_type_id, a.confidence, a.status, a.route_tier, a.reviewer_group,
        a.due_at, a.escalation_step, a.sla_stage, a.decision_comment,
        coalesce((a.escalation_path -> a.escalation_step ->> 'page')::boolean, false) AS step_pages,
        j.route_tier AS old_tier, j.reviewer_group AS old_group, j.due_at AS old_due, j.step, j.passed,
        j.created_at
), audited AS (
    INSERT INTO hitl_auditevent (
        created_at, event_type, actor_type, actor_label, request_id, action_id, agent_id, reviewer_id,
        action_type, agent_confidence, routing_tier, decision, time_to_decision_seconds, modified_action,
        before, after, data
    )
    SELECT %(stamp)s, m.kind, 'system', 'system', %(request_id)s, m.id, m.agent_id, NULL,
        t.key, m.confidence, m.route_tier, CASE m.kind WHEN 'expired' THEN 'expired' ELSE '' END,
        CASE m.kind WHEN 'expired' THEN extract(epoch FROM %(now)s - m.created_at)::float8 END, NULL,
        CASE WHEN m.kind IN ('escalated', 'expired') THEN jsonb_build_object(
            'tier', m.old_tier, 'group', m.old_group, 'due_at', {iso_utc("m.old_due")}) END,
        CASE m.kind
            WHEN 'escalated' THEN jsonb_build_object(
                'tier', m.route_tier, 'group', m.reviewer_group, 'due_at', {iso_utc("m.due_at")})
            WHEN 'expired' THEN jsonb_build_object('status', m.status, 'comment', m.decision_comment)
            END,
        CASE m.kind
            WHEN 'warned' THEN jsonb_build_object(
                'percent_of_sla', round((m.step -> 'warn_at' ->> (m.passed - 1))::numeric * 100)::int)
            WHEN 'review_window_closed' THEN '{{}}'::jsonb
            ELSE jsonb_build_object('late_seconds', extract(epoch FROM %(now)s - m.old_due)::float8)
            END
    FROM moved m JOIN hitl_actiontype t ON t.id = m.action_type_id
    WHERE m.kind <> 'announced' AND m.kind <> 'settled'
)
SELECT id, kind, status, route_tier, reviewer_group, due_at, escalation_step, sla_stage, step_pages,
    extract(epoch FROM %(now)s - old_due)::float8
FROM moved
"""


class Moved(NamedTuple):
    """What a transition left an action at: enough to notify its group and tell who waits on it."""

    pk: object
    kind: str  # review_window_closed, settled, escalated, expired, announced or warned
    status: str
    route_tier: str
    reviewer_group: str
    due_at: datetime | None
    escalation_step: int
    sla_stage: int
    step_pages: bool  # whether the step it is at now pages
    late_seconds: float  # after its deadline, as it stood before the transition


def transitions_apply(*, ids: list, now: datetime, stamp: datetime, request_id: str = "") -> list[Moved]:
    """Apply what is due at `now` to the actions `ids`, which the caller has locked, with the audit
    events stamped `stamp`; return what each became."""
    with connection.cursor() as cursor:
        cursor.execute(TRANSITION_SQL, {"ids": ids, "now": now, "stamp": stamp, "request_id": request_id})
        return [Moved(*row) for row in cursor.fetchall()]
