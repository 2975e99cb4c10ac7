"""The demo reviewer: decides part of the demo agent's queue as the demo's truths say
(demo.data.TRUTHS), through the reviewers' own services and as reviewers of each action's group,
so that calibration has labels within minutes of `make run`. The rest is left to the people
trying the demo."""

import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hitl.errors import Conflict, ServiceError
from hitl.models import Action
from reviews.selectors import POST, PRE, QueueFilters, group_keys, queue_page, reviewer_scope
from reviews.services import review_decide, review_post_action, reviewer_create

from . import data as demo

REJECT_COMMENT = "Not what the customer asked for (demo reviewer)."
FLAG_COMMENT = "This should not have run (demo reviewer)."


def reviewers_ensure() -> dict[str, list]:
    """The demo reviewer's users (demo.data.REVIEW_BOTS) per reviewer group, created or brought up
    to date; those of a group that does not exist are left out. Nobody knows their passwords."""
    known = set(group_keys())
    people: dict[str, list] = {}
    for username, groups in demo.REVIEW_BOTS:
        if set(groups) <= known:
            user, _ = reviewer_create(
                username=username, password=secrets.token_urlsafe(), group_keys=groups, issue_token=False
            )
            for group in groups:
                people.setdefault(group, []).append(user)
    return people


def takes(action: Action, share: float) -> bool:
    """Whether the demo reviewer decides this waiting action, or leaves it to people (seeded by its id)."""
    return random.Random(f"share:{action.pk}").random() < share


@dataclass
class DemoReviewer:
    """Each round, decides the demo agent's actions that reached its groups' queues at least
    `min_age` ago: every review after the action ran (post-action, audit samples) and `share` of
    those waiting for approval. A cursor per queue remembers how far it has read, so each action is
    looked at once; what it left stays with people."""

    people: dict[str, list]  # reviewer group → the users who decide its actions (two for four-eyes)
    share: float = 0.6
    min_age: timedelta = timedelta(seconds=20)
    cursors: dict = field(default_factory=dict)

    def round(self, now: datetime) -> Counter:
        """Decide what is due; returns how many of each outcome (and `left`, `skipped`)."""
        tally: Counter = Counter()
        for group, people in self.people.items():
            for tab in (PRE, POST):
                for action in self._unread(people[0], group, tab, before=now - self.min_age, now=now):
                    tally[self._review(action, people, tab)] += 1
        return tally

    def _unread(self, reviewer, group: str, tab: str, *, before: datetime, now: datetime):
        """The demo agent's actions in `group`'s `tab` of the queue past the cursor and submitted
        before `before`, oldest first; the cursor moves past each as it is given."""
        scope = reviewer_scope(reviewer)
        filters = QueueFilters(group=group, agent=demo.AGENT_NAME, sort="oldest")
        while True:
            page, more = queue_page(
                scope=scope, filters=filters, after=self.cursors.get((group, tab)), tab=tab, now=now
            )
            for action in page:
                if action.created_at >= before:
                    return
                self.cursors[(group, tab)] = (action.created_at, str(action.pk))
                yield action
            if not more:
                return

    def _review(self, action: Action, people: list, tab: str) -> str:
        if tab == PRE and not takes(action, self.share):
            return "left"
        try:
            return _confirm_or_flag(action, people[0]) if tab == POST else _decide(action, people)
        except ServiceError:  # a person, or the SLA sweep, got there first: theirs it is
            return "skipped"


def _decide(action: Action, people: list) -> str:
    """Approve it when the agent is right; else edit it (when the type can be corrected) or reject
    it. An approval goes round `people` until as many have approved as the action needs."""
    verb, payload, comment = "approve", None, ""
    if not demo.is_right(action.action_type.key, action.confidence, action.pk):
        payload = demo.correction(action.action_type.key, action.payload, action.pk)
        verb, comment = ("modify", "") if payload is not None else ("reject", REJECT_COMMENT)
    outcome = "skipped"
    for person in people:
        try:
            outcome = review_decide(
                reviewer=person, action_id=action.pk, decision=verb, payload=payload, comment=comment
            ).outcome
        except Conflict as conflict:
            if conflict.code != "already_approved":
                raise
            continue
        if outcome != "approval_recorded":
            break
        verb, payload = "approve", None  # the next approves what waits now, the edit included
    return outcome


def _confirm_or_flag(action: Action, reviewer) -> str:
    right = demo.is_right(action.action_type.key, action.confidence, action.pk)
    verdict, comment = ("confirm", "") if right else ("flag", FLAG_COMMENT)
    return review_post_action(reviewer=reviewer, action_id=action.pk, verdict=verdict, comment=comment).outcome
