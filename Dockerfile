# One image for every role: `web` (ASGI: HTTP and websockets), `worker`, `beat`, `migrate`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=hitl.settings.production

WORKDIR /app
RUN useradd --create-home --uid 10001 hitl

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# The agent SDK, for the MCP gateway's receipt check (mcpgate.gateway); its dependencies are above.
RUN pip install --no-deps ./clients/python
# collectstatic needs settings to load, not real services: throwaway values for the build only.
RUN SECRET_KEY=build-only DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput \
 && chown -R hitl:hitl /app

USER hitl
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/healthz')" || exit 1
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
