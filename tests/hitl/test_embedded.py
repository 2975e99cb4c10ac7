"""`make run`'s embedded mode, started the way make run starts it: the embedded PostgreSQL and Redis
in the data directory, every part; and `manage.py` commands in another terminal on the same
database meanwhile."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def embedded_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CHANNEL_PREFIX")}
    env.update(DJANGO_SETTINGS_MODULE="hitl.settings.local", HITL_DATA_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    return env


def manage(env, *args) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_embedded_stack_serves_an_agent_end_to_end(embedded_env):
    manage(embedded_env, "migrate", "--noinput")
    manage(embedded_env, "seed_demo")
    port = free_port()
    stack = subprocess.Popen(
        [sys.executable, "manage.py", "run_stack", "--port", str(port)],
        cwd=ROOT,
        env=embedded_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(stack.stdout), daemon=True).start()
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.25)
        else:
            pytest.fail("the web server did not come up:\n" + "".join(output))

        agent_token = manage(embedded_env, "create_agent", "e2e-bot").strip().splitlines()[-1]
        reviewer_token = manage(embedded_env, "create_reviewer", "rex", "--password", "pw-rex-123", "--groups", "team")
        reviewer_token = reviewer_token.strip().splitlines()[-1]
        agent = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {agent_token}"}, timeout=30)
        body = {
            "action_type": "send_email",
            "payload": {"to": "jane@example.com", "subject": "Refund", "body": "Done."},
            "summary": "Email Jane about her refund",
            "confidence": 0.9,
        }
        created = agent.post("/api/v1/actions", json=body)
        assert created.status_code == 201, created.text
        action_id = created.json()["id"]

        # The agent long-polls while a reviewer decides: the wake-up crosses the embedded Redis.
        polled = {}
        poller = threading.Thread(target=lambda: polled.update(r=agent.get(f"/api/v1/actions/{action_id}?wait=20")))
        poller.start()
        time.sleep(1)
        decided = httpx.post(
            f"{base}/api/v1/actions/{action_id}/decision",
            json={"decision": "approve"},
            headers={"Authorization": f"Bearer {reviewer_token}"},
        )
        assert decided.status_code == 200, decided.text
        started = time.monotonic()
        poller.join(timeout=20)
        assert polled["r"].json()["status"] == "approved"
        assert time.monotonic() - started < 5

        for _ in range(40):  # the demo agent is submitting too
            if "[agent ] submitted" in "".join(output):
                break
            time.sleep(0.5)
        text = "".join(output)
        assert "[agent ] submitted" in text, text
        assert "[worker]" in text and "[beat  ]" in text, text
        assert stack.poll() is None, text  # every part is still up
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            code = stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            raise
    time.sleep(0.5)
    assert code == 0, "".join(output)
    assert "Stopped." in "".join(output)
    assert not (Path(embedded_env["HITL_DATA_DIR"]) / "postgres" / "postmaster.pid").exists()  # stopped
    # A command starts the database again (and stops it as it ends), and the demo's audit
    # trail (every submit, claim and decision of the run) verifies.
    assert "audit log intact" in manage(embedded_env, "verify_audit")
