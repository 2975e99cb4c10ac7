"""What the Dockerfile runs at build time and at start, with production settings."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def production_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "hitl.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hitl"),
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            "ALLOWED_HOSTS": "hitl.example.com",
            **extra,
        }
    )
    return env


def manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_passes_with_production_settings():
    result = manage(production_env(), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL"])
def test_production_refuses_to_start_without_its_services(missing):
    env = production_env()
    del env[missing]
    result = manage(env, "check")
    assert result.returncode != 0 and f"{missing} must be set" in result.stderr


def test_collectstatic_runs_as_in_the_docker_build(tmp_path):
    env = production_env(
        SECRET_KEY="build-only", DATABASE_URL="postgres://build@localhost/build", STATIC_ROOT=str(tmp_path / "static")
    )
    result = manage(env, "collectstatic", "--noinput")
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "static" / "vendor").glob("htmx-*/htmx.min.*.js"))  # hashed for long caching


def test_the_image_roles_exist():
    script = (ROOT / "deploy" / "entrypoint.sh").read_text()
    for role in ("web)", "worker)", "beat)", "migrate)"):
        assert role in script
    assert os.access(ROOT / "deploy" / "entrypoint.sh", os.X_OK)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER hitl" in dockerfile and "collectstatic" in dockerfile
