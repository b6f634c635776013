"""The admin's Content-Security-Policy (django-csp): scripts and styles only from the registry itself or inline
with the response's nonce, so that markup an attacker gets into a page (a work title, an error message) cannot run."""
import re

from django.urls import reverse


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (d.split() for d in header.split(";") if d.strip())}


def test_admin_pages_forbid_scripts_and_styles_that_do_not_carry_the_nonce(login, studio_kaze):
    page = login(studio_kaze.user).get(reverse("admin:index"))
    csp = policy(page)
    nonce = re.search(r"'nonce-([^']+)'", page["Content-Security-Policy"]).group(1)
    assert csp["script-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert csp["style-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in page["Content-Security-Policy"]
    html = page.content.decode()
    # Every inline <style>/<script> of the page carries this response's nonce.
    inline = re.findall(r"<(style|script)(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline and all(f'nonce="{nonce}"' in attrs for tag, attrs in inline if "application/json" not in attrs)
    assert ' style="' not in html


def test_each_response_gets_a_fresh_nonce(client):
    first, second = client.get(reverse("admin:login")), client.get(reverse("admin:login"))
    assert first["Content-Security-Policy"] != second["Content-Security-Policy"]


def test_api_docs_page_loads_its_script_from_a_url_not_inline(client):
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r'<script src="[^"]*\?script', html)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    script = client.get("/api/v1/docs/?script")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
