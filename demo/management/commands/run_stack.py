"""Start everything `make run` promises in one terminal; Ctrl-C stops all of it.

Without DATABASE_URL and REDIS_URL the settings have started the embedded PostgreSQL and Redis in
the data directory (hitl.embedded) as this command loaded; this process stops them when it ends,
after its children.
"""

import os
import signal
import subprocess
import sys
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from demo import data as demo


class Command(BaseCommand):
    help = (
        "Run the web server (HTTP and websockets), a Celery worker, Celery beat, a demo agent and a demo reviewer "
        "that decides part of the demo agent's queue."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--web-workers", type=int, default=1)
        parser.add_argument("--no-demo-agent", action="store_true", help="Do not start the demo agent.")
        parser.add_argument("--no-demo-reviewer", action="store_true", help="Do not start the demo reviewer.")
        parser.add_argument("--migrate", action="store_true", help="Apply the migrations first.")
        parser.add_argument("--seed", action="store_true", help="Create the demo data first (seed_demo).")

    def handle(self, *args, host, port, web_workers, no_demo_agent, no_demo_reviewer, migrate, seed, **options):
        if migrate:
            call_command("migrate", interactive=False, verbosity=0)
        if seed:
            call_command("seed_demo")
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.stopping = False
        self.failed = False
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            python = sys.executable
            manage = [python, str(settings.BASE_DIR / "manage.py")]
            self._spawn(
                "web",
                [
                    python,
                    "-m",
                    "uvicorn",
                    "hitl.asgi:application",
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--workers",
                    str(web_workers),
                    "--no-access-log",
                    *self._proxy_options(),
                ],
            )
            self._spawn(
                "worker", [python, "-m", "celery", "-A", "hitl", "worker", "--loglevel", "INFO", "--concurrency", "2"]
            )
            settings.DATA_DIR.mkdir(parents=True, exist_ok=True)  # beat's schedule, with external services too
            self._spawn(
                "beat",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "hitl",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    str(settings.DATA_DIR / "celerybeat-schedule"),
                ],
            )
            if not no_demo_agent:
                self._spawn("agent", manage + ["demo_agent", "--url", f"http://{host}:{port}"])
            if not no_demo_reviewer:
                self._spawn("review", manage + ["demo_reviewer"])
            self._banner(host, port, reviewing=not no_demo_reviewer)
            self._watch()
        finally:
            self._stop_all()

    @staticmethod
    def _proxy_options() -> list[str]:
        """Forwarded headers believed from HITL_TRUSTED_PROXIES only, as deploy/entrypoint.sh does."""
        if not settings.HITL_TRUSTED_PROXIES:
            return ["--no-proxy-headers"]
        return ["--proxy-headers", "--forwarded-allow-ips", ",".join(settings.HITL_TRUSTED_PROXIES)]

    def _on_signal(self, signum, frame):
        self.stopping = True

    def _spawn(self, name, command):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"]}
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._relay, args=(name, process), daemon=True).start()
        self.children.append((name, process))

    def _relay(self, name, process):
        for line in process.stdout:
            self.stdout.write(f"[{name:<6}] {line.rstrip()}")

    def _banner(self, host, port, *, reviewing: bool):
        base = f"http://{host}:{port}"
        database = "PostgreSQL at DATABASE_URL" if settings.DATABASE_URL else "embedded PostgreSQL"
        broker = "Redis at REDIS_URL" if settings.REDIS_URL else "embedded Redis"
        lines = [
            "",
            f"HITL gatekeeper is running ({database}, {broker}).",
            f"  Log in:     {base}/",
            f"  Admin:      {base}/admin/   ({demo.ADMIN[0]} / {demo.ADMIN[1]})",
            f"  API docs:   {base}/api/docs/",
            "  Reviewers:  " + ", ".join(f"{u} / {p}" for u, p, _, _ in demo.USERS),
        ]
        if reviewing:
            lines.append("  A demo reviewer decides part of the demo agent's queue after 20 s; the rest waits for you.")
        lines += ["Press Ctrl-C to stop everything.", ""]
        self.stdout.write("\n".join(lines))

    def _watch(self):
        while not self.stopping:
            for name, process in self.children:
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with code {process.returncode}; stopping everything.")
                    self.stopping = self.failed = True
                    break
            time.sleep(0.3)

    def _stop_all(self):
        """SIGTERM every process, and wait for them (the embedded servers stop when this one exits)."""
        for _, process in self.children:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, process in self.children:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.stdout.write("Stopped.")
        if self.failed:
            sys.exit(1)
