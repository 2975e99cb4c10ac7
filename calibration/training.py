"""Training data from reviewers' corrections, for admins and auditors: JSON lines, streamed.

Two kinds, read from the labels (one per final human verdict) and their actions:

- `corrections`: every action a reviewer approved with edits, rejected, or flagged after it ran,
  with what the agent saw and proposed (context, summary, reasoning, the original payload) and
  what the reviewer made of it (the verdict, the final payload, the edit as a JSON Patch, the
  comment);
- `preferences`: a pair per approval with edits, for preference training: the prompt (what the
  agent was asked and knew), `chosen` (the reviewer's payload) and `rejected` (the agent's).

Read in decided_at order through a server-side cursor, CHUNK_ROWS at a time, like the audit
export; each export is audited before its first row.
"""

import json
from collections.abc import Iterator

from django import forms
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import StreamingHttpResponse

from audit.export import CHUNK_ROWS, pull_async
from audit.models import AuditEvent
from audit.services import audit_record

from .models import Label
from .selectors import FilterForm, Filters

KINDS = {
    "corrections": (Label.Verdict.MODIFIED, Label.Verdict.REJECTED, Label.Verdict.FLAGGED),
    "preferences": (Label.Verdict.MODIFIED,),
}


class TrainingFilterForm(FilterForm):
    """The calibration filters (type, agent, domain, decided from / to) and the kind of rows."""

    parameters = ("action_type", "agent", "domain", "from", "to", "kind")
    read_by = "the training data export"
    kind = forms.CharField(required=False, help_text="corrections (the default) or preferences.")

    def clean_kind(self):
        kind = self.cleaned_data["kind"].strip() or "corrections"
        if kind not in KINDS:
            raise ValidationError(f"Unknown kind '{kind}'. Use one of: {', '.join(KINDS)}.")
        return kind


# `from` is a Python keyword: FilterForm adds it to its fields after the class, where a subclass's
# fields, made from the declared ones, do not see it.
TrainingFilterForm.base_fields = {"from": FilterForm.base_fields["from"], **TrainingFilterForm.base_fields}


_ROWS = """
    SELECT l.action_id, t.key, g.name, u.username, l.verdict, l.decided_at, a.summary, a.reasoning,
        a.context, a.payload, l.edit, l.patch, coalesce(nullif(a.decision_comment, ''), a.compensation_reason)
    FROM calibration_label l
    JOIN hitl_action a ON a.id = l.action_id
    JOIN hitl_actiontype t ON t.id = l.action_type_id
    JOIN hitl_agent g ON g.id = l.agent_id
    JOIN auth_user u ON u.id = l.reviewer_id
    WHERE l.verdict = ANY(%(verdicts)s) {where}
    ORDER BY l.decided_at, l.id
"""


def _query(filters: Filters, kind: str) -> tuple[str, dict]:
    where, params = [], {"verdicts": list(KINDS[kind])}
    for clause, name, value in (
        ("l.action_type_id = %(type)s", "type", filters.action_type.pk if filters.action_type else None),
        ("l.agent_id = %(agent)s", "agent", filters.agent.pk if filters.agent else None),
        ("l.domain = %(domain)s", "domain", filters.domain or None),
        ("l.decided_at >= %(since)s", "since", filters.since),
        ("l.decided_at < %(until)s", "until", filters.until),
    ):
        if value is not None:
            where.append(f"AND {clause}")
            params[name] = value
    return _ROWS.format(where=" ".join(where)), params


def _line(row: tuple, kind: str) -> str:
    action_id, key, agent, reviewer, verdict, decided_at, summary, reasoning, *documents, comment = row
    context, payload, edit, patch = (json.loads(text) if text is not None else None for text in documents)
    head = {
        "action_id": str(action_id),
        "action_type": key,
        "agent": agent,
        "reviewer": reviewer,
        "decided_at": decided_at.isoformat().replace("+00:00", "Z"),
    }
    if kind == "preferences":
        prompt = {"action_type": key, "summary": summary, "reasoning": reasoning, "context": context}
        body = {"prompt": prompt, "chosen": edit, "rejected": payload, "comment": comment}
    else:
        body = {
            "verdict": verdict,
            "summary": summary,
            "reasoning": reasoning,
            "context": context,
            "original_payload": payload,
            "final_payload": edit if verdict == Label.Verdict.MODIFIED else None,
            "patch": patch,
            "comment": comment,
        }
    return json.dumps({**head, **body}, ensure_ascii=False, separators=(",", ":")) + "\n"


def training_chunks(filters: Filters, kind: str, *, chunk_rows: int = CHUNK_ROWS) -> Iterator[bytes]:
    """The export's body, a chunk of rows at a time (a synchronous generator: see audit.export)."""
    sql, params = _query(filters, kind)
    with transaction.atomic(), connection.chunked_cursor() as cursor:  # inside a transaction, it streams
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_rows):
            yield "".join(_line(row, kind) for row in rows).encode()


def training_response(filters: Filters, kind: str, *, by) -> StreamingHttpResponse:
    """The rows, streamed as JSON lines; the export is audited (who, which filters) first."""
    audit_record(
        event_type=AuditEvent.Type.TRAINING_EXPORTED,
        actor=by,
        data={
            "kind": kind,
            "action_type": filters.action_type.key if filters.action_type else None,
            "agent": filters.agent.name if filters.agent else None,
            "domain": filters.domain or None,
            "from": filters.since.isoformat() if filters.since else None,
            "to": filters.until.isoformat() if filters.until else None,
        },
    )
    response = StreamingHttpResponse(pull_async(training_chunks(filters, kind)), content_type="application/x-ndjson")
    response["Content-Disposition"] = f'attachment; filename="hitl-training-{kind}.jsonl"'
    response["Cache-Control"] = "no-store"
    return response
