"""The SDK against a live server (tests/conftest.py's server_url): an agent's Client, a reviewer
deciding through the API from another thread, a loopback proxy that misbehaves on cue, and a
database for LangGraph's PostgresSaver."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import psycopg
import pytest
from django.db import connection
from hitl_client import Client
from langgraph.checkpoint.postgres import PostgresSaver

from hitl.models import Action
from hitl.services import token_issue
from tests.conftest import database_url

FAST = {"backoff_base": 0.05, "backoff_cap": 0.2}  # the live tests' retries: the policy, quicker


@pytest.fixture
def hitl(server_url, agent_and_token, email_type):
    """The agent's Client against the live server."""
    with Client(server_url, agent_and_token[1], **FAST) as client:
        yield client


def send_email(to: str, subject: str, body: str = "") -> str:
    """The tool the tests gate (its arguments match the send_email type's schema)."""
    return f"sent to {to}: {subject}"


def pending_action(timeout: float = 10) -> Action:
    """The newest pending action, once one exists (read by whichever thread asks)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        action = Action.objects.filter(status="pending").order_by("-created_at").first()
        if action is not None:
            return action
        time.sleep(0.05)
    raise AssertionError("No action became pending.")


class Reviewer:
    """A team reviewer deciding through POST /api/v1/actions/{id}/decision with a reviewer token."""

    def __init__(self, server_url: str, token: str):
        self.url, self.token = server_url, token
        self.answers: list[httpx.Response] = []

    def decide(self, action_id, **body) -> httpx.Response:
        answer = httpx.post(
            f"{self.url}/api/v1/actions/{action_id}/decision", json=body,
            headers={"Authorization": f"Bearer {self.token}"}, timeout=10,
        )  # fmt: skip
        self.answers.append(answer)
        return answer

    def decide_when_pending(self, **body) -> threading.Thread:
        """In another thread: wait for the next pending action, then decide it."""

        def run():
            try:
                self.decide(pending_action().id, **body)
            finally:
                connection.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


@pytest.fixture
def reviewer(server_url, team_reviewer):
    return Reviewer(server_url, token_issue(user=team_reviewer, label="sdk tests"))


class FaultyProxy(ThreadingHTTPServer):
    """A loopback HTTP proxy to the live server. Each request takes the next of `faults` (then none):
    None forwards it; ("answer", status, headers) answers without forwarding; "drop" forwards it
    and closes the connection without answering; a callable forwards it and rewrites the JSON answer."""

    daemon_threads = True

    def __init__(self, upstream: str, faults: list):
        self.upstream, self.faults, self.seen = upstream, list(faults), []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def next_fault(self, method: str, path: str, headers: dict):
        with self.lock:
            self.seen.append((method, path, headers))
            return self.faults.pop(0) if self.faults else None


class _ProxyHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self._proxy()

    def do_POST(self):
        self._proxy()

    def _proxy(self):
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fault = self.server.next_fault(self.command, self.path, headers)
        if isinstance(fault, tuple):
            _, status, extra = fault
            return self._answer(status, {"error": "throttled", "message": "Slow down."}, extra)
        answer = httpx.request(self.command, self.server.upstream + self.path, headers=headers, content=body,
                               timeout=70)  # fmt: skip
        if fault == "drop":
            self.close_connection = True
            return
        payload = answer.json()
        if callable(fault):
            payload = fault(payload)
        self._answer(answer.status_code, payload, {})

    def _answer(self, status: int, payload: dict, headers: dict):
        raw = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(raw)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def proxy(server_url):
    """Start a FaultyProxy to the live server: proxy(faults) -> the proxy (its .url, .seen)."""
    started = []

    def start(faults):
        started.append(FaultyProxy(server_url, faults))
        return started[-1]

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def checkpoints(django_db_setup, django_db_blocker):
    """A database of its own for PostgresSaver, on the tests' PostgreSQL server, set up once."""
    with django_db_blocker.unblock():
        server, name = database_url().rsplit("/", 1)
    name = f"{name}_checkpoints"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    with PostgresSaver.from_conn_string(f"{server}/{name}") as saver:
        saver.setup()
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
