"""The admin login throttle's two hooks into django-axes: who the client is, and what a locked-out client sees."""
from django.conf import settings
from django.shortcuts import render


def client_ip(request) -> str | None:
    """REMOTE_ADDR with no trusted proxy; else the address KYODAKU_TRUSTED_PROXY_COUNT hops from the right of
    X-Forwarded-For. Each proxy appends the address it was reached from, so the right-most entries are written by
    proxies we trust and everything to their left by the client: taking the left-most, as many libraries do, would
    let an attacker choose a fresh address for every login attempt.
    """
    proxies = settings.KYODAKU_TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR")
    if proxies <= 0:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    if len(hops) < proxies:
        return remote  # not (fully) proxied: a direct connection is its own address
    return hops[-proxies]


def locked_out(request, response, credentials):
    """The 429 page of the admin, in the user's language, saying how long to wait."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return render(request, "admin/kyodaku/locked_out.html",
                  {"failure_limit": settings.AXES_FAILURE_LIMIT, "cooloff_minutes": minutes}, status=429)
