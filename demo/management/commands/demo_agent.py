import random
import time

import httpx
from django.core.management.base import BaseCommand

from demo import data as demo
from hitl.models import Agent, ApiToken
from hitl.services import agent_create, token_issue, token_revoke


class Command(BaseCommand):
    help = "Act as an agent: keep submitting realistic actions over HTTP, and report outcomes of approved ones."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Base URL of the running web server.")
        parser.add_argument(
            "--interval",
            type=float,
            default=0.5,
            help="Mean seconds between submissions: often enough for calibration to have its figures within "
            "minutes (the demo reviewer decides part of them).",
        )
        parser.add_argument("--count", type=int, default=0, help="Stop after this many submissions (0: never).")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, url, interval, count, seed, **options):
        token = self._token()
        rng = random.Random(seed)
        waiting: list[str] = []
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
            self._wait_until_up(client)
            sent = 0
            while not count or sent < count:
                sent += 1
                response = self._send(
                    client, "POST", "/api/v1/actions", json=demo.proposal(rng, sent), key=f"demo-{sent}-{token[-6:]}"
                )
                if response is not None and response.status_code in (200, 201):
                    body = response.json()
                    self.stdout.write(f"submitted {body['action_type']:<18} {body['status']:<8} {body['summary']}")
                    waiting.append(body["id"])
                elif response is not None:
                    self.stderr.write(f"submit refused: {response.status_code} {response.text[:300]}")
                waiting = self._report_outcomes(client, waiting[-50:])
                time.sleep(rng.expovariate(1 / interval) if interval else 0)

    def _token(self) -> str:
        """A fresh token for the demo agent; earlier demo tokens are revoked."""
        agent = Agent.objects.filter(name=demo.AGENT_NAME).first()
        if agent is None:
            agent, raw = agent_create(name=demo.AGENT_NAME, description="Submits demo actions (make run).")
            return raw
        for old in ApiToken.objects.filter(agent=agent, revoked_at__isnull=True):
            token_revoke(token=old)
        return token_issue(agent=agent, label="demo_agent")

    def _wait_until_up(self, client):
        for _ in range(120):
            try:
                client.get("/healthz")
                return
            except httpx.HTTPError:
                time.sleep(0.5)
        raise SystemExit(f"The web server at {client.base_url} did not come up.")

    def _send(self, client, method, path, json=None, key=None):
        headers = {"Idempotency-Key": key} if key else {}
        for attempt in range(5):
            try:
                return client.request(method, path, json=json, headers=headers)
            except httpx.HTTPError as exc:
                self.stderr.write(f"{method} {path} failed ({exc}); retrying")
                time.sleep(2**attempt)
        return None

    def _report_outcomes(self, client, waiting: list[str]) -> list[str]:
        """Look at the five oldest waiting actions; report execution of approved ones."""
        checked, still = waiting[:5], waiting[5:]
        for action_id in checked:
            response = self._send(client, "GET", f"/api/v1/actions/{action_id}")
            if response is None or response.status_code != 200:
                continue
            status = response.json()["status"]
            if status == "approved":
                self._send(
                    client, "POST", f"/api/v1/actions/{action_id}/outcome", json={"outcome": "executed", "detail": {}}
                )
            elif status == "pending":
                still.append(action_id)
        return still
