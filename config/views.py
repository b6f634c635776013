"""Small views of the site itself (not of an app)."""
from django.http import HttpResponseRedirect


def admin_alias(request, rest: str):
    """`/admin/<rest>?<query>` → `/<rest>?<query>`: the admin is mounted at the root; this alias keeps the address
    people and tools try first working (bookmarks, `…/admin/login/`). A temporary redirect (302), so that a later
    move of the admin under `/admin/` does not fight browsers' cached permanent redirects."""
    query = request.META.get("QUERY_STRING", "")
    # Never `//host` or `/\host` (a browser reads either as another site): the target stays on this one.
    return HttpResponseRedirect("/" + rest.lstrip("/\\") + (f"?{query}" if query else ""))
