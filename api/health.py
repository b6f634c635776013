"""Liveness and readiness probes, outside /api/ so that load balancers need no key."""
from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def healthz(request):
    return JsonResponse({"status": "ok"})


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:  # any failure means "not ready"; the reason is reported, not raised
        return False, exc.__class__.__name__


def _broker_ok() -> tuple[bool, str]:
    if not settings.CELERY_BROKER_URL:
        return True, "eager (no broker configured)"
    from celery import current_app as app  # the project's app (config/celery.py), without importing upward

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:
        return False, exc.__class__.__name__


def _signing_key_ok(db_ok: bool) -> tuple[bool, str]:
    """A deployment that cannot sign receipts is not ready (api.md, "Evidence"); checking also publishes the
    active key, so it is in the JWKS before the first receipt."""
    if not db_ok:
        return False, "unknown (database unavailable)"
    from receipts.services import signing_key_check

    try:
        return signing_key_check()
    except Exception as exc:  # the database went away mid-check: not ready, reported, not raised
        return False, exc.__class__.__name__


def readyz(request):
    db_ok, db_detail = _database_ok()
    broker_ok, broker_detail = _broker_ok()
    key_ok, key_detail = _signing_key_ok(db_ok)
    ok = db_ok and broker_ok and key_ok
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "database": db_detail, "broker": broker_detail,
         "signing_key": key_detail},
        status=200 if ok else 503,
    )
