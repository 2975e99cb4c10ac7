"""The pager endpoint is checked when the server starts: a private, loopback or metadata address in
HITL_PAGER_URL stops `manage.py check` (and every start), not the first page of an incident."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def check() -> str:
    out = StringIO()
    call_command("check", stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def production(settings, db):
    settings.DEBUG, settings.HITL_OUTBOUND_ALLOW, settings.HITL_PAGER_ROUTING_KEY = False, "", "routing-key"
    return settings


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://10.0.0.5/v2/enqueue", "10.0.0.5 is a private address"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a cloud metadata address"),
        ("https://[::1]/v2/enqueue", "::1 is a loopback address"),
        ("https://localhost/v2/enqueue", "localhost resolves to"),
    ],
)
def test_a_pager_url_the_ssrf_guard_refuses_stops_the_start_naming_why(production, url, reason):
    production.HITL_PAGER_URL = url
    with pytest.raises(SystemCheckError, match=r"escalation\.E002") as refused:
        check()
    assert f"HITL_PAGER_URL cannot be called: {reason}" in str(refused.value)


def test_a_public_pager_or_one_on_an_allowed_network_passes(production):
    production.HITL_PAGER_URL = "https://93.184.215.14/v2/enqueue"
    assert "escalation.E002" not in check()
    production.HITL_PAGER_URL, production.HITL_OUTBOUND_ALLOW = "https://10.0.0.5/v2/enqueue", "10.0.0.0/8"
    assert "escalation.E002" not in check()
