"""End to end: a real Celery worker and beat against Redis escalate and expire an action on their own."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from audit.models import AuditEvent
from escalation.models import TierPolicy
from escalation.selectors import tier_policies
from hitl.models import Action
from hitl.policy import policy_invalidate
from hitl.services import action_submit, agent_create
from tests.conftest import database_url
from tests.factories import ActionTypeFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_and_beat(transactional_db, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hitl.settings.test",
        "DATABASE_URL": database_url(),
        "HITL_SLA_SWEEP_SECONDS": "0.5",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hitl", "worker", "--beat", "--pool", "solo", "--loglevel", "warning",
         "--schedule", str(tmp_path / "beat-schedule"),],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=20)


def test_an_action_escalates_and_expires_with_nobody_touching_it(worker_and_beat, own_routes_only):
    for tier in tier_policies():  # the design's, from a migration; seconds instead of hours
        assert tier in ("tier1", "tier2", "tier3")
    for tier in ("tier1", "tier2", "tier3"):
        TierPolicy.objects.filter(tier=tier).update(sla=timedelta(seconds=2), warn_at="50")
    policy_invalidate()
    agent, _ = agent_create(name="support-bot")
    action = action_submit(agent=agent, action_type=ActionTypeFactory(), payload={"to": "a@b.co", "subject": "Hi"},
                           summary="Email Jane", confidence=0.9)  # fmt: skip
    assert action.route_tier == "tier1"
    deadline = time.monotonic() + 30
    while Action.objects.get(pk=action.pk).status == "pending":
        assert worker_and_beat.poll() is None, "the worker stopped"
        assert time.monotonic() < deadline, "the action neither escalated nor expired in time"
        time.sleep(0.2)
    action.refresh_from_db()
    assert (action.status, action.decision, action.route_tier) == ("expired", "expired", "tier3")
    flow = list(AuditEvent.objects.filter(action=action).order_by("id").values_list("event_type", flat=True))
    assert [e for e in flow if e != "warned"] == ["submitted", "escalated", "escalated", "expired"]
    assert flow.count("warned") <= 3  # one per tier at most (a busy machine may sweep past one)
    lateness = AuditEvent.objects.filter(action=action, event_type__in=["escalated", "expired"])
    # Late, not early; how late is bench/sweep.py's to measure (a busy machine delays a 0.5 s beat).
    assert all(0 <= e.data["late_seconds"] < 10 for e in lateness)
