"""Writes of calibration: a label per final human verdict (label_record, called by the reviewers'
services in the transaction of the verdict), the per-day sums it adds to, the labels of verdicts
made before labels existed (labels_backfill), and the count of what agents submit
(actions_count_catch_up, run by beat)."""

from datetime import datetime, timedelta

import jsonpatch
from django.db import connection, transaction
from django.utils import timezone

from hitl.models import Action
from hitl.states import Decision, RoutePattern
from reviews.selectors import post_action_verdicts

from .models import CountedThrough, Label
from .sums import BIN, COLUMNS, SUMS

VERDICTS = {  # a final human verdict, and whether it says the agent was right
    Label.Verdict.APPROVED: True,
    Label.Verdict.CONFIRMED: True,
    Label.Verdict.MODIFIED: False,
    Label.Verdict.REJECTED: False,
    Label.Verdict.FLAGGED: False,
}

_SUM_DAYS = f"""
INSERT INTO calibration_binday (day, action_type_id, domain, agent_id, bin, {", ".join(COLUMNS)})
SELECT (l.decided_at AT TIME ZONE 'UTC')::date, l.action_type_id, l.domain, l.agent_id, {BIN}, {SUMS}
FROM calibration_label l {{where}}
GROUP BY 1, 2, 3, 4, 5
"""
_ADD_TO_DAYS = (
    _SUM_DAYS.format(where="WHERE l.id = ANY(%(ids)s)")
    + f"""
ON CONFLICT (day, action_type_id, domain, agent_id, bin) DO UPDATE SET
    {", ".join(f"{c} = calibration_binday.{c} + EXCLUDED.{c}" for c in COLUMNS)}
"""
)


def label_record(
    *, action: Action, verdict: str, reviewer, decided_at: datetime, edit=None, patch=None
) -> Label | None:
    """Record the label of `action`'s final human verdict, and add it to its day's sums. Caller
    holds the transaction (and the action's lock) of the verdict. Once per action: None when it has
    one already."""
    if Label.objects.filter(action_id=action.pk).exists():
        return None
    label = Label(
        action=action,
        action_type_id=action.action_type_id,
        domain=action.action_type.domain,
        agent_id=action.agent_id,
        reviewer=reviewer,
        confidence=action.confidence,
        correct=VERDICTS[verdict],
        verdict=verdict,
        route_pattern=action.route_pattern,
        route_tier=action.route_tier,
        policy_version=action.policy_version,
        probability=action.review_probability or 1.0,
        edit=edit,
        patch=patch,
        time_to_decision=(decided_at - action.created_at).total_seconds(),
        decided_at=decided_at,
    )
    label.save(force_insert=True)
    _add_to_days([label.pk])
    return label


def _add_to_days(label_ids: list[int]) -> None:
    """Add these (new) labels to the per-day sums, in one statement however many. Caller holds the
    transaction that wrote them."""
    with connection.cursor() as cursor:
        cursor.execute(_ADD_TO_DAYS, {"ids": label_ids})


def bin_days_rebuild() -> int:
    """Sum every label into the per-day sums afresh, in one transaction (readers see the old sums
    until it commits): the repair for sums that drifted from the labels, e.g. after labels were
    loaded by SQL. Returns the rows written."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE calibration_binday IN EXCLUSIVE MODE")  # no label adds to it meanwhile
        cursor.execute("DELETE FROM calibration_binday")
        cursor.execute(_SUM_DAYS.format(where=""))
        return cursor.rowcount


def labels_backfill(*, batch_size: int = 500) -> int:
    """Label the verdicts made before labels existed, from the stored actions: the final decision of
    each action a reviewer decided, and each post-action confirmation or flag. Idempotent: an
    action labelled already is passed over. Returns how many labels it wrote."""
    written = 0
    decided = (
        Action.objects.filter(
            decided_by__isnull=False, decision__in=[Decision.APPROVED, Decision.MODIFIED, Decision.REJECTED]
        )  # fmt: skip
        .filter(label__isnull=True)
        .select_related("action_type")
        .order_by("decided_at")
    )
    while batch := list(decided[:batch_size]):  # each batch drops out of the query as it is labelled
        with transaction.atomic():
            for action in batch:
                modified = action.decision == Decision.MODIFIED
                written += bool(
                    label_record(
                        action=action,
                        verdict=action.decision,
                        reviewer=action.decided_by,
                        decided_at=action.decided_at,
                        edit=action.final_payload if modified else None,
                        patch=jsonpatch.make_patch(action.payload, action.final_payload).patch if modified else None,
                    )
                )
    for action, verdict in post_action_verdicts():
        with transaction.atomic():
            written += bool(
                label_record(
                    action=action,
                    verdict=Label.Verdict.CONFIRMED if verdict.kind == "confirm" else Label.Verdict.FLAGGED,
                    reviewer=verdict.reviewer,
                    decided_at=verdict.created_at,
                )
            )
    return written


COUNT_LAG = timedelta(seconds=60)  # longer than a submit's transaction: a row it creates is in by then

_COUNT = """
INSERT INTO calibration_actioncount (day, action_type_id, agent_id, total, routed)
SELECT (created_at AT TIME ZONE 'UTC')::date, action_type_id, agent_id, count(*),
    count(*) FILTER (WHERE route_pattern <> %(autonomous)s)
FROM hitl_action WHERE created_at >= %(since)s AND created_at < %(until)s
GROUP BY 1, 2, 3
ON CONFLICT (day, action_type_id, agent_id) DO UPDATE SET
    total = calibration_actioncount.total + EXCLUDED.total,
    routed = calibration_actioncount.routed + EXCLUDED.routed
"""


def actions_count_catch_up(*, now: datetime | None = None) -> int:
    """Count the actions created since the last count and up to a minute ago (COUNT_LAG) into
    ActionCount, and move the mark: one transaction, one statement (the BRIN index on created_at
    finds the range), safe to run twice at once (the mark's row lock). Returns the days touched."""
    until = (now or timezone.now()) - COUNT_LAG
    with transaction.atomic():
        mark = CountedThrough.objects.select_for_update().filter(pk=1).first()
        if mark is None:  # a migration creates it; an emptied database has none
            mark = CountedThrough.objects.create(pk=1, at=until - timedelta(days=3650))
        if until <= mark.at:
            return 0
        with connection.cursor() as cursor:
            cursor.execute(_COUNT, {"since": mark.at, "until": until, "autonomous": RoutePattern.AUTONOMOUS})
            touched = cursor.rowcount
        CountedThrough.objects.filter(pk=1).update(at=until)
    return touched
