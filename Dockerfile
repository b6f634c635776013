# Kyodaku: one image for the web process (gunicorn), the Celery worker and the one-shot migrate step.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

RUN useradd --create-home --uid 1000 kyodaku

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files and translations are built into the image; the build needs placeholder settings only (nothing
# connects to these addresses during the build).
RUN SECRET_KEY=build-only-placeholder-build-only-placeholder-build-only DATABASE_URL=sqlite:////tmp/build.db \
    ALLOWED_HOSTS=localhost REDIS_URL=redis://build-only:6379/1 CELERY_BROKER_URL=redis://build-only:6379/0 \
    KYODAKU_BASE_URL=https://build-only.invalid python manage.py collectstatic --noinput \
    && python manage.py compile_translations -v0 \
    && mkdir -p /var/lib/kyodaku/media /var/lib/kyodaku/signing-keys /var/lib/kyodaku/snapshots \
    && chown -R kyodaku /var/lib/kyodaku

USER kyodaku
EXPOSE 8000
# The web process: granian serving config.wsgi; workers, threads and keep-alive in config/serve.py (docs/scaling.md,
# "Web workers").
CMD ["python", "-m", "config.serve"]
