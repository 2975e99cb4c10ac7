"""Land where you work, and no debug pages: after login each role lands on its page, pages answer
errors with the product's own pages, and the demo runs with DEBUG off."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from audit.export import auditors_group
from hitl.services import action_submit, agent_create
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-for-landing"


@pytest.fixture
def people(db):
    tina = UserFactory(username="tina", password=PASSWORD)
    ReviewerGroupFactory(key="team", rank=1).members.add(tina)
    audrey = UserFactory(username="audrey", password=PASSWORD)
    audrey.groups.add(auditors_group())
    nobody = UserFactory(username="nora", password=PASSWORD)
    leo = UserFactory(username="leo", password=PASSWORD)
    ReviewerGroupFactory(key="lead", rank=2).members.add(leo)
    admin = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    return {"tina": tina, "audrey": audrey, "nora": nobody, "leo": leo, "root": admin}


@pytest.mark.parametrize(
    "username, lands_on",
    [
        ("tina", "/reviews/"),
        ("leo", "/dashboard/"),
        ("root", "/dashboard/"),
        ("audrey", "/audit/"),
        ("nora", "/activity/"),
    ],  # fmt: skip
)
def test_each_role_lands_on_its_page_after_logging_in(client, people, username, lands_on):
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == lands_on
    assert response.status_code == 200


def test_the_navigation_offers_each_role_its_pages(client, people):
    client.force_login(people["audrey"])
    html = client.get("/audit/").content.decode()
    assert 'href="/audit/"' in html and 'href="/reviews/"' not in html and 'href="/activity/"' not in html
    client.force_login(people["nora"])
    html = client.get("/activity/").content.decode()
    assert "You are not in any reviewer group" in html and 'href="/reviews/"' not in html


def test_a_page_the_reader_may_not_open_is_the_products_404_not_a_debug_page(client, people):
    finance = ActionTypeFactory(key="issue_refund", payload_schema=None, reviewer_group="finance")
    ReviewerGroupFactory(key="finance", kind="expertise", rank=0).members.add(UserFactory(username="fiona"))
    agent, _ = agent_create(name="bot")
    refund = action_submit(agent=agent, action_type=finance, payload={}, summary="Refund Jane", confidence=0.9)
    client.force_login(people["tina"])
    response = client.get(f"/reviews/{refund.pk}/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "No action with this id is in your queues." in html and "Back to your queue" in html
    assert "Traceback" not in html and "technical_404" not in html and "URLconf" not in html
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "There is nothing at this address." in missing.content.decode()


def test_the_demo_settings_run_with_debug_off():
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_SETTINGS_MODULE")}
    env["DJANGO_SETTINGS_MODULE"] = "hitl.settings.local"
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    printed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert printed.strip() == "False"
