#!/bin/sh
# One image, several roles: web | worker | beat | migrate | any other command.
set -e
case "$1" in
  web)
    exec uvicorn hitl.asgi:application --host 0.0.0.0 --port "${PORT:-8000}" \
      --workers "${WEB_CONCURRENCY:-2}" --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-*}" --no-access-log ;;
  worker)
    exec celery -A hitl worker --loglevel "${LOG_LEVEL:-INFO}" --concurrency "${WORKER_CONCURRENCY:-4}" ;;
  beat)
    # Run exactly one beat per deployment.
    exec celery -A hitl beat --loglevel "${LOG_LEVEL:-INFO}" --schedule /tmp/celerybeat-schedule ;;
  migrate)
    exec python manage.py migrate --noinput ;;
  *)
    exec "$@" ;;
esac
