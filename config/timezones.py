"""Times in the user's own time zone: the browser's zone (sent once by a line of script in the admin's base
template as the `kyodaku_tz` cookie), else the `TIME_ZONE` setting. Stored times stay UTC; only display changes,
and the formats (config/formats) name the zone shown."""
import zoneinfo
from urllib.parse import unquote

from django.utils import timezone

COOKIE = "kyodaku_tz"


class UserTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = unquote(request.COOKIES.get(COOKIE, ""))  # the script writes it URL-encoded (Asia%2FTokyo)
        zone = None
        if name and len(name) <= 64:
            try:
                zone = zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                zone = None  # an unknown or malformed name: the registry's default zone
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
