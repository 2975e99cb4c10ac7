"""The audit trail exported for auditors: the filters, the events they select, the streamed body.

The auditors' page (audit.views) and the API (audit.api) both parse their query with
AuditFilterForm and answer with export_response(). Events are read in id order through a
server-side cursor, CHUNK_ROWS at a time, and each chunk is written out before the next is read,
so an export of millions of events holds one chunk in memory.

Under ASGI, StreamingHttpResponse buffers a synchronous iterator whole (it runs `list()` on it in
a thread), so the response gets an asynchronous iterator instead, which pulls each chunk from the
synchronous generator with sync_to_async(thread_sensitive=True): every pull runs on the request's
own thread, where the view ran and where the cursor's connection lives.
"""

import csv
import io
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from json.encoder import encode_basestring

from asgiref.sync import sync_to_async
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse

from hitl.models import ActionType, Agent

from .models import AuditEvent
from .services import audit_record

EXPORT_PERMISSION = "audit.export_auditevent"
CHUNK_ROWS = 2000  # rows per fetch from the server-side cursor, and per chunk of the body
FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
DEFAULT_FORMAT = "jsonl"
PARAMETERS = ("from", "to", "action_type", "agent", "reviewer", "format")

# Every column of the audit log, in the export's order: the row, its place in its chain, then the
# JSON documents. `agent` and `reviewer` are names, next to their ids.
SCALAR_COLUMNS = (
    "id", "created_at", "event_type", "actor_type", "actor_label", "request_id", "action_id",
    "agent_id", "agent", "reviewer_id", "reviewer", "action_type", "agent_confidence", "routing_tier",
    "decision", "time_to_decision_seconds", "seq", "prev_hash", "hash",
)  # fmt: skip
JSON_COLUMNS = ("modified_action", "before", "after", "data")
COLUMNS = SCALAR_COLUMNS + JSON_COLUMNS


def auditors_group():
    """The `auditors` group, holding the export permission (migration 0008 creates it; this makes
    sure of it where the group may have been removed, as in an emptied test database)."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name="auditors")
    group.permissions.add(Permission.objects.get(content_type__app_label="audit", codename="export_auditevent"))
    return group


def can_export(user) -> bool:
    """Auditors (the `auditors` group holds the permission) and superusers."""
    return user.is_authenticated and user.has_perm(EXPORT_PERMISSION)


# --- filters ------------------------------------------------------------------------------------


class MomentField(forms.DateTimeField):
    """An ISO 8601 date or date-time; one without an offset is UTC (TIME_ZONE)."""

    input_formats = []  # no locale formats such as 01/02/2026: ISO 8601 only
    default_error_messages = {
        "invalid": "Not an ISO 8601 date or date-time, such as 2026-01-31, 2026-01-31T09:30:00Z or "
        "2026-01-31T09:30:00+01:00.",
    }
    # "…T09:30:00 01:00": a "+" in a query string that arrived as a space.
    _plus_as_space = re.compile(r".*[T ]\d\d:\d\d(:\d\d(\.\d+)?)? \d\d(:?\d\d)?")

    def to_python(self, value):
        try:
            return super().to_python(value)
        except ValidationError:
            if isinstance(value, str) and self._plus_as_space.fullmatch(value.strip()):
                raise ValidationError(
                    "Not an ISO 8601 date-time: its UTC offset lost its '+' (a '+' in a URL means a space). "
                    "Write it as %2B, or give the time in UTC with Z.",
                    code="invalid",
                ) from None
            raise


@dataclass(frozen=True)
class AuditFilters:
    """Which events to export: created_at in [start, end), and the other filters when set."""

    start: datetime | None = None
    end: datetime | None = None
    action_type: str = ""
    agent: Agent | None = None
    reviewer: object | None = None  # a User
    format: str = DEFAULT_FORMAT


class AuditFilterForm(forms.Form):
    """The export's query parameters, for the page and the API alike. All are optional."""

    # `from` is a Python keyword: it is added to base_fields below the class.
    to = MomentField(required=False, help_text="Events created before this moment (excluded).")
    action_type = forms.CharField(required=False, max_length=64, help_text="An action type's key.")
    agent = forms.CharField(required=False, max_length=100, help_text="An agent's name.")
    reviewer = forms.CharField(required=False, max_length=150, help_text="A user's username.")
    format = forms.CharField(required=False, max_length=16, help_text="jsonl (the default) or csv.")

    def clean_action_type(self):
        key = self.cleaned_data["action_type"].strip()
        if key and not ActionType.objects.filter(key=key).exists():
            known = ", ".join(ActionType.objects.order_by("key").values_list("key", flat=True)) or "none yet"
            raise ValidationError(f"Unknown action type '{key}'. Known types: {known}.")
        return key

    def clean_agent(self):
        name = self.cleaned_data["agent"].strip()
        if not name:
            return None
        agent = Agent.objects.filter(name=name).first()
        if agent is None:
            raise ValidationError(f"No agent is named '{name}'.")
        return agent

    def clean_reviewer(self):
        username = self.cleaned_data["reviewer"].strip()
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise ValidationError(f"No user has the username '{username}'.")
        return user

    def clean_format(self):
        name = self.cleaned_data["format"].strip().lower() or DEFAULT_FORMAT
        if name not in FORMATS:
            raise ValidationError(f"Unknown format '{name}'. Use one of: {', '.join(FORMATS)}.")
        return name

    def clean(self):
        data = super().clean()
        start, end = data.get("from"), data.get("to")
        if start and end and start > end:
            self.add_error(
                "from", f"Is after to ({end.isoformat()}): the range runs from `from` (included) to `to` (excluded)."
            )
        return data

    def filters(self) -> AuditFilters:
        """The parsed filters; call after is_valid() returned True."""
        data = self.cleaned_data
        return AuditFilters(
            start=data.get("from"),
            end=data.get("to"),
            action_type=data.get("action_type", ""),
            agent=data.get("agent"),
            reviewer=data.get("reviewer"),
            format=data.get("format") or DEFAULT_FORMAT,
        )


AuditFilterForm.base_fields = {
    "from": MomentField(required=False, help_text="Events created at or after this moment."),
    **AuditFilterForm.base_fields,
}


def unknown_parameters(params) -> dict[str, list[str]]:
    """Query parameters the export does not know, as field errors (a typo is refused, not ignored)."""
    return {
        name: [f"Unknown parameter. Known: {', '.join(PARAMETERS)}."] for name in sorted(set(params) - set(PARAMETERS))
    }


# --- the events ---------------------------------------------------------------------------------


def audit_events(filters: AuditFilters) -> QuerySet[AuditEvent]:
    """The events the filters select, in id order (the order they were written)."""
    events = AuditEvent.objects.all()
    if filters.start is not None:
        events = events.filter(created_at__gte=filters.start)
    if filters.end is not None:
        events = events.filter(created_at__lt=filters.end)
    if filters.action_type:
        events = events.filter(action_type=filters.action_type)
    if filters.agent is not None:
        events = events.filter(agent=filters.agent)
    if filters.reviewer is not None:
        events = events.filter(reviewer=filters.reviewer)
    return events.order_by("id")


def _export_rows(events: QuerySet[AuditEvent]) -> QuerySet:
    """Tuples in COLUMNS order. The JSON documents come as their stored text (on PostgreSQL the
    canonical jsonb text the chain hashes), never decoded and encoded again."""
    return events.annotate(
        agent_name=F("agent__name"),
        reviewer_name=F("reviewer__username"),
        **{f"{name}_text": Cast(name, TextField()) for name in JSON_COLUMNS},
    ).values_list(
        *("agent_name" if c == "agent" else "reviewer_name" if c == "reviewer" else c for c in SCALAR_COLUMNS),
        *(f"{name}_text" for name in JSON_COLUMNS),
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode  # flat rows
_JSON_KEYS = tuple(f",{encode_basestring(name)}:" for name in JSON_COLUMNS)
_N_SCALARS = len(SCALAR_COLUMNS)


def _jsonl(rows: list[tuple]) -> bytes:
    """One JSON object per line; the JSON documents are spliced in as stored."""
    lines = []
    for row in rows:
        scalars = dict(zip(SCALAR_COLUMNS, row, strict=False))
        scalars["created_at"] = _iso(scalars["created_at"])
        if scalars["action_id"] is not None:
            scalars["action_id"] = str(scalars["action_id"])
        head = _encode(scalars)[:-1]
        documents = "".join(
            key + (text if text is not None else "null") for key, text in zip(_JSON_KEYS, row[_N_SCALARS:], strict=True)
        )
        lines.append(f"{head}{documents}}}\n")
    return "".join(lines).encode()


def _csv_writer():
    buffer = io.StringIO()
    return buffer, csv.writer(buffer, lineterminator="\r\n")


def _csv(rows: list[tuple]) -> bytes:
    """CSV rows (RFC 4180); empty for null; the JSON documents as JSON text."""
    buffer, writer = _csv_writer()
    writer.writerows((row[0], _iso(row[1]), *row[2:]) for row in rows)
    return buffer.getvalue().encode()


def _csv_header() -> bytes:
    buffer, writer = _csv_writer()
    writer.writerow(COLUMNS)
    return buffer.getvalue().encode()


def export_chunks(
    filters: AuditFilters, *, chunk_rows: int | None = None, before_id: int | None = None
) -> Iterator[bytes]:
    """The export's body, a chunk of `chunk_rows` (CHUNK_ROWS) events at a time, those with ids
    below `before_id` when given. A synchronous generator: pull it from one thread, and close it
    on that thread if it is left unfinished."""
    chunk_rows = chunk_rows or CHUNK_ROWS
    render: Callable[[list[tuple]], bytes] = _csv if filters.format == "csv" else _jsonl
    if filters.format == "csv":
        yield _csv_header()
    # A cursor opened outside a transaction is declared WITH HOLD, and PostgreSQL runs the whole
    # query to keep its result before the first row is read; inside one it streams.
    with transaction.atomic():
        events = audit_events(filters)
        if before_id is not None:
            events = events.filter(id__lt=before_id)
        rows = _export_rows(events).iterator(chunk_size=chunk_rows)
        try:
            while batch := list(islice(rows, chunk_rows)):
                yield render(batch)
        finally:
            rows.close()


async def pull_async(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """The chunks of a synchronous generator, each produced on the caller's thread-sensitive
    thread (the request's, under ASGI; the test's, under async_to_sync), then closed there."""
    pull = sync_to_async(next, thread_sensitive=True)
    try:
        while (chunk := await pull(chunks, None)) is not None:
            yield chunk
    finally:
        await sync_to_async(chunks.close, thread_sensitive=True)()


def export_filename(filters: AuditFilters) -> str:
    """audit-events_<from>_<to>.<format>, the moments in UTC (start and now when open)."""

    def moment(value, open_end):
        return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") if value else open_end

    return f"audit-events_{moment(filters.start, 'start')}_{moment(filters.end, 'now')}.{filters.format}"


def export_response(filters: AuditFilters, *, by) -> StreamingHttpResponse:
    """The events the filters select, streamed as JSON lines or CSV; the export itself is audited
    (who, and with which filters) before the first row goes, and holds the events written before it."""
    exported = audit_record(
        event_type=AuditEvent.Type.AUDIT_EXPORTED,
        actor=by,
        data={
            "from": _iso(filters.start) if filters.start else None,
            "to": _iso(filters.end) if filters.end else None,
            "action_type": filters.action_type or None,
            "agent": filters.agent.name if filters.agent else None,
            "reviewer": filters.reviewer.get_username() if filters.reviewer else None,
            "format": filters.format,
        },
    )
    chunks = export_chunks(filters, before_id=exported.pk)
    return _as_download(StreamingHttpResponse(pull_async(chunks)), filters)


def export_head(filters: AuditFilters) -> StreamingHttpResponse:
    """The headers an export with these filters gets, for a HEAD request: no events are read and
    no export is recorded. Streamed like the export, so it claims no Content-Length either."""
    return _as_download(StreamingHttpResponse(_no_chunks()), filters)


async def _no_chunks() -> AsyncIterator[bytes]:
    return
    yield  # an async generator that yields nothing


def _as_download(response, filters: AuditFilters):
    response["Content-Type"] = FORMATS[filters.format]
    response["Content-Disposition"] = f'attachment; filename="{export_filename(filters)}"'
    response["Cache-Control"] = "no-store"
    return response
