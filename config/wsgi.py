import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

django_application = get_wsgi_application()

from config.wsgi_lane import wsgi_lane  # noqa: E402 (after Django is set up)

# The plain lookup GET answered before Django's handler (KYODAKU_WSGI_LANE); everything else by Django.
application = wsgi_lane(django_application)
