import os

from celery import Celery

# Like WSGI/ASGI: a worker started without DJANGO_SETTINGS_MODULE runs with production settings (which refuse to
# start without their secrets), never with local ones (DEBUG, a public dev secret, eager tasks).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

app = Celery("kyodaku")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
