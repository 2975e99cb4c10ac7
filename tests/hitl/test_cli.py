import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from hitl.models import ActionType, Agent
from reviews.models import ReviewerGroup
from tests.conftest import bearer_client, submit_body


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_agent_prints_a_working_token_on_its_last_line(email_type):
    out, _ = run("create_agent", "billing-bot")
    token = out.strip().splitlines()[-1]
    assert Agent.objects.filter(name="billing-bot").exists()
    assert bearer_client(token).post("/api/v1/actions", submit_body(), format="json").status_code == 201


def test_create_agent_prints_the_webhook_secret_before_the_token(email_type):
    out, _ = run("create_agent", "hook-bot")
    *_, secret_line, token = out.strip().splitlines()
    assert secret_line == f"Webhook secret: {Agent.objects.get(name='hook-bot').webhook_secret}"
    assert bearer_client(token).post("/api/v1/actions", submit_body(), format="json").status_code == 201


def test_create_agent_refuses_a_duplicate_name(db):
    run("create_agent", "dup")
    with pytest.raises(CommandError, match="already exists"):
        run("create_agent", "dup")


def test_create_reviewer_prints_a_working_token(db):
    """The tier groups exist after `migrate` alone: nothing else needs creating first."""
    out, _ = run("create_reviewer", "rita", "--password", "s3cret-pass", "--groups", "team,lead")
    token = out.strip().splitlines()[-1]
    user = get_user_model().objects.get(username="rita")
    assert user.check_password("s3cret-pass")
    assert set(user.reviewer_groups.values_list("key", flat=True)) == {"team", "lead"}
    response = bearer_client(token).post(
        "/api/v1/actions/00000000-0000-0000-0000-000000000000/decision", {"decision": "approve"}, format="json"
    )
    assert response.status_code == 404  # authenticated as a reviewer; the action does not exist


def test_create_reviewer_names_unknown_groups(db):
    with pytest.raises(CommandError, match="Unknown reviewer group.*legal.*Known groups: team, lead, executive"):
        run("create_reviewer", "rita", "--password", "pw-123456", "--groups", "team,legal")
    assert not get_user_model().objects.filter(username="rita").exists()


def test_seed_demo_is_repeatable_and_prints_logins(db):
    run("seed_demo")
    out, _ = run("seed_demo")
    assert ActionType.objects.count() == 6
    # The demo's over-confident type is audit-sampled far above the default, so calibration sees it soon.
    assert ActionType.objects.get(key="update_preference").audit_sample_rate == 0.5
    assert ActionType.objects.get(key="send_email").audit_sample_rate == 0.02
    assert set(ReviewerGroup.objects.values_list("key", flat=True)) == {"team", "lead", "executive", "finance"}
    assert "admin" in out and "admin-demo" in out and "tina" in out
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("admin-demo")
    for username in ("tina", "leo", "eve", "fiona"):
        assert get_user_model().objects.get(username=username).reviewer_groups.exists()
