# Production image: the web app (gunicorn), the Celery worker and beat share it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# pg_dump and pg_restore for `make backup-check` (scripts/backup_check.py); bookworm's
# client is PostgreSQL 15, the compose file's server.
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY . .
RUN useradd --system --uid 10001 nhi \
    && mkdir -p /app/var/anchors \
    && DEBUG=0 ALLOWED_HOSTS=build SECRET_KEY=collectstatic-at-build-time-only-never-served-0123456789abcdef \
       python manage.py collectstatic --noinput \
    && chown -R nhi /app/var
USER nhi

EXPOSE 8000
# Bind, workers, timeouts and the redacting access/error logs: config/gunicorn_conf.py.
CMD ["gunicorn", "-c", "config/gunicorn_conf.py", "config.wsgi:application"]
