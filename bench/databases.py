"""How each benchmark gets a PostgreSQL database of its own: created fresh, migrated and seeded
with the demo reviewers and types, through manage.py as a user would."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def database_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def manage(env: dict, *args: str) -> str:
    """Run manage.py with `env` (its DATABASE_URL says which database); its output, or exit."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def fresh_database(name: str, env: dict) -> None:
    """Drop and create database `name`, migrate it and seed the demo."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**env, "DATABASE_URL": database_url(name)}
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        manage(env, *command)


def django_setup(env: dict) -> None:
    """Set up Django in this process with `env` (settings module, database, secret)."""
    os.environ.update(env)
    import django

    django.setup()
