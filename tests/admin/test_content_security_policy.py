"""The admin's Content-Security-Policy (django-csp): scripts and styles only from the registry itself or inline
with the response's nonce, so that markup an attacker gets into a page (a work title, an error message) cannot run."""
import re

from django.urls import reverse

from tests.admin.csp import csp_problems


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
    assert f'<style nonce="{nonce}">' in page.content.decode()
    assert csp_problems(page) == []  # every admin page is checked so in test_every_page.py


def test_the_check_itself_sees_what_the_browser_would_refuse(client):
    from django.http import HttpResponse

    page = HttpResponse('<script>x()</script><style nonce="abc">p{}</style><p style="color:red" onclick="y()">')
    page["Content-Security-Policy"] = "script-src 'self' 'nonce-abc'"
    assert csp_problems(page) == ["<script>", '<p style="color:red"', '<p style="color:red" onclick="y()"']


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
