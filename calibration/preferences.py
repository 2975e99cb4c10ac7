"""What reviewers change when they edit an agent's proposal: patterns mined from their edits.

Every approval with edits stores the edit as an RFC 6902 JSON Patch against the agent's payload
(calibration.Label.patch). Each operation on a field is one of five kinds of change: `lowered` or
`raised` (a number replaced by a smaller or larger one), `changed` (any other replacement),
`added` and `removed`. A pattern is an action type's field and kind, e.g. issue_refund /amount
lowered; per action type, and per reviewer of it.

It counts once it has at least HITL_PREFERENCE_MIN_SUPPORT examples (default 20) and is the
field's usual change (at least MAJORITY of the edits that touch the field), which leaves out a
field reviewers move either way. It is checked on later decisions it was not learned from: the
earlier 70 % of a type's edits find the patterns, and the agreement is the share of the later
30 % that touch the field and change it the same way. A numeric pattern says by how much, as the
median relative change.
"""

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

MAJORITY = 0.6
LEARN_SHARE = 0.7  # the earlier edits a pattern is found in; the rest check it
MAX_EDITS = 20_000  # per action type, the latest


@dataclass(frozen=True)
class Change:
    path: str
    kind: str  # lowered, raised, changed, added, removed
    relative: float | None = None  # for lowered and raised: (new - old) / |old|


@dataclass(frozen=True)
class Pattern:
    action_type: str
    reviewer: str | None  # None: every reviewer of the type
    path: str
    kind: str
    support: int  # edits showing it, among those it was learned from
    edits: int  # edits of the type (and reviewer) it was learned from
    touching: int  # of those, the edits that touch the field
    median_change: float | None
    agreement: float | None  # on the later edits that touch the field; None when there are none
    checked: int  # how many later edits touch the field

    @property
    def share(self) -> float:
        return self.support / self.edits if self.edits else 0.0

    @property
    def text(self) -> str:
        who = f"{self.reviewer} " if self.reviewer else "reviewers "
        verb = {"lowered": "lowered", "raised": "raised", "changed": "changed", "added": "added", "removed": "removed"}
        field = self.path.lstrip("/").replace("/", ".") or "the payload"
        line = f"{self.action_type}: {who}{verb[self.kind]} `{field}` in {self.share:.0%} of their edits"
        line += f" ({self.support} of {self.edits})"
        if self.median_change is not None:
            line += f", by {abs(self.median_change):.0%} on median"
        if self.agreement is not None:
            line += f"; held-out agreement {self.agreement:.2f} over {self.checked} later edits"
        return line + "."


@dataclass(frozen=True)
class Candidate:
    """A field and kind that has not yet reached the minimum support."""

    action_type: str
    path: str
    kind: str
    support: int
    needed: int


def changes_of(patch: list, before: dict) -> list[Change]:
    """The changes an RFC 6902 patch makes to `before`, one per field it touches (the last op wins)."""
    found: dict[str, Change] = {}
    for op in patch or []:
        path, name = op.get("path", ""), op.get("op")
        if name == "add":
            found[path] = Change(path, "changed" if _has(before, path) else "added")
        elif name == "remove":
            found[path] = Change(path, "removed")
        elif name == "replace":
            old, new = _get(before, path), op.get("value")
            if _number(old) and _number(new) and old != new:
                relative = (new - old) / abs(old) if old else None
                found[path] = Change(path, "lowered" if new < old else "raised", relative)
            else:
                found[path] = Change(path, "changed")
    return list(found.values())


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _walk(document, parts: list[str]):
    """The value at `parts` (a JSON Pointer's unescaped parts) in `document`, or None."""
    for part in parts:
        if isinstance(document, dict) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return None
    return document


def _parts(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def _get(document, path: str):
    return _walk(document, _parts(path))


def _has(document, path: str) -> bool:
    parts = _parts(path)
    parent = _walk(document, parts[:-1])
    return bool(parts) and isinstance(parent, dict) and parts[-1] in parent


_EDITS = """
    SELECT t.key, u.username, l.patch, a.payload
    FROM (
        SELECT l.*, row_number() OVER (PARTITION BY l.action_type_id ORDER BY l.decided_at DESC) AS latest
        FROM calibration_label l WHERE l.verdict = 'modified' AND l.patch IS NOT NULL {where}
    ) l
    JOIN hitl_action a ON a.id = l.action_id
    JOIN hitl_actiontype t ON t.id = l.action_type_id
    JOIN auth_user u ON u.id = l.reviewer_id
    WHERE l.latest <= %(most)s
    ORDER BY t.key, l.decided_at, l.id
"""


def edits_by_type(action_type_key: str = "") -> dict[str, list[tuple[str, list[Change]]]]:
    """Each type's edits, oldest first: (reviewer, the changes) per approval with edits."""
    where, params = "", {"most": MAX_EDITS}
    if action_type_key:
        where = "AND l.action_type_id = (SELECT id FROM hitl_actiontype WHERE key = %(key)s)"
        params["key"] = action_type_key
    by_type: dict[str, list] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(_EDITS.format(where=where), params)
        for key, reviewer, patch, payload in cursor.fetchall():
            patch = json.loads(patch) if isinstance(patch, str) else patch
            payload = json.loads(payload) if isinstance(payload, str) else payload
            by_type[key].append((reviewer, changes_of(patch, payload)))
    return by_type


def mine(action_type: str, edits: list[tuple[str, list[Change]]], *, min_support: int | None = None):
    """The patterns of one type's edits (every reviewer's, then each reviewer's) and the candidates
    still short of the minimum support."""
    min_support = min_support or settings.HITL_PREFERENCE_MIN_SUPPORT
    patterns, candidates = _mine(action_type, None, edits, min_support)
    for reviewer in sorted({r for r, _ in edits}):
        mine_of_reviewer, _ = _mine(action_type, reviewer, [e for e in edits if e[0] == reviewer], min_support)
        patterns.extend(mine_of_reviewer)
    return patterns, candidates


def _mine(action_type, reviewer, edits, min_support):
    cut = int(len(edits) * LEARN_SHARE)
    learn, check = edits[:cut], edits[cut:]
    touching: dict[str, int] = defaultdict(int)
    kinds: dict[tuple[str, str], list[Change]] = defaultdict(list)
    for _, changes in learn:
        for change in changes:
            touching[change.path] += 1
            kinds[change.path, change.kind].append(change)
    patterns, candidates = [], []
    for (path, kind), shown in sorted(kinds.items()):
        usual = len(shown) / touching[path] >= MAJORITY
        if len(shown) < min_support:
            if usual:
                candidates.append(Candidate(action_type, path, kind, len(shown), min_support - len(shown)))
            continue
        if not usual:
            continue
        later = [c for _, changes in check for c in changes if c.path == path]
        relatives = [c.relative for c in shown if c.relative is not None]
        patterns.append(
            Pattern(
                action_type=action_type,
                reviewer=reviewer,
                path=path,
                kind=kind,
                support=len(shown),
                edits=len(learn),
                touching=touching[path],
                median_change=statistics.median(relatives) if relatives else None,
                agreement=sum(c.kind == kind for c in later) / len(later) if later else None,
                checked=len(later),
            )
        )
    return patterns, candidates


def preferences(action_type_key: str = "") -> tuple[list[Pattern], list[Candidate]]:
    """Every type's patterns (or one type's), and the candidates short of the minimum support."""
    patterns, candidates = [], []
    for key, edits in edits_by_type(action_type_key).items():
        found, short = mine(key, edits)
        patterns.extend(found)
        candidates.extend(short)
    return patterns, candidates


def guidance(patterns: list[Pattern]) -> str:
    """Plain-language guidance an agent can put in its prompt: the patterns of every reviewer."""
    lines = [p.text for p in patterns if p.reviewer is None]
    if not lines:
        return "No reviewer preferences have enough examples yet.\n"
    return "What reviewers change when they edit these actions:\n" + "".join(f"- {line}\n" for line in lines)
