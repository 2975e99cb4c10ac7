"""The service's real webhook, verified by hitl_client.verify_webhook in the agent's receiver."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hitl_client import SeenDeliveries, WebhookInvalid, WebhookReplayed, verify_webhook

from callbacks.models import WebhookDelivery
from callbacks.services import webhook_deliver
from hitl.models import Action, Agent


class Receiver(ThreadingHTTPServer):
    """An agent's callback endpoint on loopback: verifies each POST, keeps the events and refusals."""

    daemon_threads = True

    def __init__(self, secret):
        self.secret, self.seen, self.events, self.refused, self.requests = secret, SeenDeliveries(), [], [], []
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/hitl/callback"
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((dict(self.headers.items()), body))
        try:
            self.server.events.append(verify_webhook(self.server.secret, self.headers, body, seen=self.server.seen))
        except WebhookInvalid as refused:
            self.server.refused.append(refused)
        self.send_response(200)
        self.end_headers()


@pytest.fixture
def receiver(agent):
    server = Receiver(agent.webhook_secret)
    yield server
    server.shutdown()
    server.server_close()


def test_a_decision_webhook_verifies_in_the_agents_receiver_and_its_replay_is_refused(hitl, reviewer, receiver):
    submitted = hitl.submit(action_type="send_email", payload={"to": "jane@example.com", "subject": "Hi"},
                            summary="Email Jane", confidence=0.82, callback_url=receiver.url)  # fmt: skip
    edited = {"to": "jane@example.com", "subject": "Hello"}
    assert reviewer.decide(submitted.action_id, decision="modify", payload=edited).status_code == 200
    deadline = time.monotonic() + 10
    while not (delivery := WebhookDelivery.objects.filter(action_id=submitted.action_id).first()):
        assert time.monotonic() < deadline, "no delivery was recorded"
        time.sleep(0.05)
    assert webhook_deliver(delivery_id=delivery.pk, attempt=1) == "delivered"
    assert receiver.refused == []
    [event] = receiver.events
    assert (event["id"], event["type"], event["action"]["id"], event["action"]["final_payload"]) == (
        str(delivery.pk), "action.modified", submitted.action_id, edited,
    )  # fmt: skip
    headers, body = receiver.requests[0]
    with pytest.raises(WebhookReplayed):
        verify_webhook(Agent.objects.get().webhook_secret, headers, body, seen=receiver.seen)
    with pytest.raises(WebhookInvalid, match="No signature"):
        verify_webhook("not-the-secret", headers, body, seen=set())
    assert Action.objects.get().status == "approved"
