"""How each benchmark gets a PostgreSQL database of its own: created fresh, migrated and seeded
with the demo reviewers and types, through manage.py as a user would."""

import os
import statistics
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


def django_setup_pair(large: str, small: str, static_root: str) -> None:
    """Django in this process on database `large`, with database `small` as the alias `small`
    (benchmarks that compare one page at two sizes; switch between them with use())."""
    import copy

    os.environ.update(
        DJANGO_SETTINGS_MODULE="bench.settings", DATABASE_URL=database_url(large), STATIC_ROOT=static_root
    )
    import django
    from django.conf import settings

    settings.DATABASES["small"] = {**copy.deepcopy(settings.DATABASES["default"]), "NAME": small}
    django.setup()


def use(size: str) -> None:
    """Point Django's default connection at database `size` ("large" or "small"), its own wrapper
    and pool. Selectors that read through django.db.connection are not redirected by a router, so
    the connection handler's entry for `default` is swapped instead (BaseConnectionHandler.__setitem__).
    Both databases are seeded alike, so the cached policy's ids hold in both."""
    from django.db import connections

    if not hasattr(use, "wrappers"):
        use.wrappers = {"large": connections["default"], "small": connections["small"]}
    connections["default"] = use.wrappers[size]


def quartiles(times: list[float]) -> str:
    """Median and quartiles of times in milliseconds."""
    q1, median, q3 = statistics.quantiles(times, n=4, method="inclusive")
    return f"median {median:8.2f} ms  (quartiles {q1:8.2f} to {q3:8.2f})"
