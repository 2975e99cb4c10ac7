"""The calibration page, as a lead reads it: a reliability diagram and the figures per action type
(and agent), its filters, the partial it polls, and each bin's link to the actions behind it."""

import html
import re
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from hitl.services import action_submit, agent_create
from reviews.services import review_decide
from tests.factories import ActionTypeFactory, ReviewerGroupFactory, UserFactory

URL = "/calibration/"
EMAIL = {"to": "jane@example.com", "subject": "Hello"}


@pytest.fixture
def people(db):
    leo, tina = UserFactory(username="leo"), UserFactory(username="tina")
    ReviewerGroupFactory(key="lead", rank=2).members.add(leo)
    ReviewerGroupFactory(key="team", rank=1).members.add(tina)
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests")
    return SimpleNamespace(leo=leo, tina=tina, root=root)


def decide(action, *, right: bool, by) -> None:
    if right:
        review_decide(reviewer=by, action_id=action.pk, decision="approve")
    else:
        review_decide(reviewer=by, action_id=action.pk, decision="reject", comment="Wrong")


@pytest.fixture
def scene(people):
    """Email verdicts by two agents (bot-a: 0.9–1 right, wrong, right; 0.7–0.8 right, wrong; 0.6–0.7
    wrong; bot-b: 0.9–1 right), a waiting email, a decided deletion, and a refund type without any."""
    email = ActionTypeFactory()
    deletion = ActionTypeFactory(key="delete_records", name="Delete records", domain="data", payload_schema=None)
    ActionTypeFactory(key="issue_refund", name="Issue refund", domain="finance", payload_schema=None)
    bot_a, bot_b = agent_create(name="bot-a")[0], agent_create(name="bot-b")[0]
    made = {}
    for name, agent, confidence, right in [
        ("a92", bot_a, 0.92, True), ("a95", bot_a, 0.95, False), ("a91", bot_a, 0.91, True),
        ("a72", bot_a, 0.72, True), ("a75", bot_a, 0.75, False), ("a65", bot_a, 0.65, False),
        ("b93", bot_b, 0.93, True),
    ]:  # fmt: skip
        made[name] = action_submit(agent=agent, action_type=email, payload=EMAIL, summary=name, confidence=confidence)
        decide(made[name], right=right, by=people.tina)
    made["waiting"] = action_submit(agent=bot_a, action_type=email, payload=EMAIL, summary="waiting", confidence=0.94)
    made["deleted"] = action_submit(agent=bot_a, action_type=deletion, payload={}, summary="deleted", confidence=0.93)
    decide(made["deleted"], right=True, by=people.root)
    return SimpleNamespace(**vars(people), actions=made, email=email)


def get(client, user, path=URL, data=None, **headers):
    client.force_login(user)
    return client.get(path, data, headers=headers)


def card(page: str, heading: str) -> str:
    """The HTML of the calibration card whose heading reads `heading`."""
    for article in re.findall(r"<article.*?</article>", page, re.S):
        title = re.search(r"<h2[^>]*>(.*?)</h2>", article, re.S).group(1)
        if re.sub(r"<[^>]+>", "", title).strip() == heading:
            return article
    raise AssertionError(f"no card {heading!r}")


def bin_link(article: str, bin_label: str) -> str:
    """The href of the dot of the bin whose label starts with `bin_label` (e.g. "Confidence 0.9–1:")."""
    found = re.search(r'<a class="bin" href="([^"]+)" aria-label="' + re.escape(bin_label), article)
    assert found, f"no dot for {bin_label!r}"
    return html.unescape(found.group(1))


def listed(client, scene, href: str) -> set[str]:
    """The names of the scene's actions that the activity page at `href` lists, to a lead."""
    response = get(client, scene.leo, href)
    assert response.status_code == 200, response.content
    ids = set(re.findall(r'href="/reviews/([0-9a-f-]{36})/"', response.content.decode()))
    return {name for name, action in scene.actions.items() if str(action.pk) in ids}


def test_a_lead_sees_a_diagram_and_the_figures_of_each_action_type(client, scene):
    response = get(client, scene.leo)
    page = response.content.decode()

    assert response.status_code == 200
    email = card(page, "send_email")
    assert email.count('<circle class="dot"') == 3  # bins 0.6–0.7, 0.7–0.8 and 0.9–1 hold verdicts
    assert '<a class="bin"' in email and 'class="diagonal"' in email and 'class="threshold"' in email
    assert "<title" in email and 'aria-describedby="desc-send_email"' in email  # named and described
    figures = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", email, re.S))
    assert re.sub(r"<[^>]+>", "", figures["Verdicts"]) == "7"
    assert figures["Accuracy"] == "57.1%" and figures["Threshold"] == "0.85"
    assert figures["Bias"] == "too few verdicts to tell" and figures["Modified"] == "0.0%"
    assert figures["ECE"] not in ("", "—") and figures["Brier"] not in ("", "—")
    assert "Routed" in figures and '<details id="bins-send_email">' in email
    assert "0.9–1.0</td><td><a " in email  # the bins as a table too, each count a link
    assert card(page, "delete_records").count('<circle class="dot"') == 1


def test_a_type_without_verdicts_shows_the_empty_diagram(client, scene):
    refund = card(get(client, scene.leo).content.decode(), "issue_refund")

    assert "no verdicts yet" in refund and 'class="diagonal"' in refund and 'class="plot"' in refund
    assert '<circle class="dot"' not in refund and "<details" not in refund


def test_per_agent_a_card_for_each_agent_of_a_type(client, scene):
    page = get(client, scene.leo, data={"group_by": "agent"}).content.decode()

    assert card(page, "send_email · bot-a").count('<circle class="dot"') == 3
    assert card(page, "send_email · bot-b").count('<circle class="dot"') == 1
    assert "no verdicts yet" in card(page, "issue_refund · any agent")
    assert 'aria-current="page">Per agent' in page


def test_leads_and_admins_only(client, scene):
    assert 'href="/calibration/"' in get(client, scene.leo, "/reviews/").content.decode()  # in the navigation
    assert get(client, scene.root).status_code == 200

    refused = get(client, scene.tina)
    assert refused.status_code == 403 and "Calibration is for leads and admins" in refused.content.decode()
    assert 'href="/calibration/"' not in get(client, scene.tina, "/reviews/").content.decode()
    client.logout()
    assert client.get(URL).url == "/accounts/login/?next=/calibration/"


@pytest.mark.parametrize(
    "query, field, message",
    [
        ({"from": "yesterday"}, "from", "Not an ISO 8601 date"),
        ({"action_type": "no_such_type"}, "action_type", "Unknown action type 'no_such_type'"),
        ({"agent": "nobody"}, "agent", "No agent is named 'nobody'"),
        ({"group_by": "reviewer"}, "group_by", "Unknown grouping 'reviewer'"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from", "Is after `to`"),
    ],
)
def test_a_bad_filter_is_a_400_with_the_error_beside_its_field(client, scene, query, field, message):
    response = get(client, scene.leo, data=query)
    page = response.content.decode()

    assert response.status_code == 400
    error = re.search(rf'<span class="errorlist" id="error-{field}">(.*?)</span>', page, re.S)
    assert error and message in html.unescape(error.group(1))
    assert f'aria-describedby="error-{field}"' in page
    assert "Fix the filters above" in page and "<svg" not in page and "hx-get" not in page  # no polling of a 400


def test_an_unknown_parameter_is_named_above_the_form(client, scene):
    response = get(client, scene.leo, data={"colour": "red"})
    errors = re.search(r'<ul class="errorlist" role="alert">(.*?)</ul>', response.content.decode(), re.S)
    assert response.status_code == 400 and "colour" in errors.group(1)


def test_the_page_polls_its_charts_partial_with_the_same_filters(client, scene):
    page = get(client, scene.leo, data={"group_by": "agent", "agent": "bot-b"}).content.decode()
    assert 'hx-get="/calibration/?group_by=agent&amp;agent=bot-b" hx-trigger="every 15s"' in page

    partial = get(client, scene.leo, data={"group_by": "agent", "agent": "bot-b"}, HX_Request="true")
    text = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in text and "<form" not in text
    assert card(text, "send_email · bot-b").count('<circle class="dot"') == 1
    assert "HX-Request" in partial["Vary"]


def test_a_bin_links_to_exactly_the_decided_actions_in_it(client, scene):
    email = card(get(client, scene.leo).content.decode(), "send_email")

    assert listed(client, scene, bin_link(email, "Confidence 0.9–1:")) == {"a92", "a95", "a91", "b93"}
    assert listed(client, scene, bin_link(email, "Confidence 0.7–0.8:")) == {"a72", "a75"}
    every = re.search(r'<dt>Verdicts</dt><dd><a href="([^"]+)"', email).group(1)
    assert listed(client, scene, html.unescape(every)) == {"a92", "a95", "a91", "a72", "a75", "a65", "b93"}

    today = timezone.now().date().isoformat()
    per_agent = get(client, scene.leo, data={"group_by": "agent", "from": today}).content.decode()
    link = bin_link(card(per_agent, "send_email · bot-a"), "Confidence 0.9–1:")
    assert "decided_from=" in link and "agent=bot-a" in link
    assert listed(client, scene, link) == {"a92", "a95", "a91"}


def test_the_activity_filters_say_what_they_keep_and_refuse_bad_values(client, scene):
    page = get(client, scene.leo, "/activity/", {"type": "send_email", "decided": "1"}).content.decode()
    assert "Only actions of type <strong>send_email</strong> that a person decided" in page
    assert 'data-live-url="/activity/?type=send_email&amp;decided=1"' in page  # the live refresh keeps them

    bad = get(client, scene.leo, "/activity/", {"confidence_from": "high", "decided_to": "soon"})
    assert bad.status_code == 400
    assert "<strong>confidence_from</strong>: Enter a number." in bad.content.decode()
    assert "<strong>decided_to</strong>: Not an ISO 8601" in bad.content.decode()


def test_the_admin_links_an_action_type_to_its_calibration(client, scene):
    page = get(client, scene.root, f"/admin/hitl/actiontype/{scene.email.pk}/change/").content.decode()
    assert 'href="/calibration/?action_type=send_email"' in page
