#!/bin/sh
# One image, several roles: web | worker | beat | migrate | any other command.
set -e
case "$1" in
  web)
    # Forwarded headers (X-Forwarded-For, X-Forwarded-Proto) are believed only from the reverse
    # proxies listed in HITL_TRUSTED_PROXIES (addresses or CIDR networks, comma-separated); with
    # none listed, from no one: clients connect directly.
    if [ -n "${HITL_TRUSTED_PROXIES:-}" ]; then
      set -- --proxy-headers --forwarded-allow-ips "$HITL_TRUSTED_PROXIES"
    else
      set -- --no-proxy-headers
    fi
    exec uvicorn hitl.asgi:application --host 0.0.0.0 --port "${PORT:-8000}" \
      --workers "${WEB_CONCURRENCY:-2}" "$@" --no-access-log ;;
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
