"""The OpenAPI schema is part of the contract: it builds without warnings, and the docs need no CDN."""
import re

import pytest
import yaml
from django.core.management import call_command


def test_schema_generates_without_warnings(db, tmp_path):
    # --fail-on-warn raises SchemaGenerationError on any warning; --validate checks it against the OpenAPI spec.
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    paths = schema["paths"]
    for path in ("/api/v1/lookup", "/api/v1/purposes", "/api/v1/jurisdictions", "/api/v1/works",
                 "/api/v1/works/{id}", "/api/v1/declarations", "/api/v1/declarations/{id}",
                 "/api/v1/declarations/{id}/revoke"):
        assert path in paths, path
    assert set(paths["/api/v1/lookup"]) >= {"get", "post"}
    assert "patch" not in paths["/api/v1/declarations/{id}"]
    problem = paths["/api/v1/lookup"]["get"]["responses"]["401"]["content"]
    assert "application/problem+json" in problem
    assert "ApiKey" in schema["components"]["securitySchemes"]


@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/docs/"])
def test_schema_and_docs_are_served(client, db, path):
    response = client.get(path)
    assert response.status_code == 200
    if path.endswith("docs/"):
        html = response.content.decode()
        assert "swagger" in html.lower()
        # Served from our static files: every script, stylesheet and icon the page loads is on this site. (The
        # page holds a random CSP nonce, which spelled "cdn" now and then: URLs are checked, not the whole text.)
        urls = re.findall(r'\b(?:src|href)="([^"]*)"', html)
        assert any(url.endswith("swagger-ui-bundle.js") for url in urls), urls
        assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls


def test_lookup_examples_are_in_the_schema(client, db):
    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    post = schema["paths"]["/api/v1/lookup"]["post"]
    assert post["requestBody"]["content"]["application/json"]["examples"]
    assert schema["paths"]["/api/v1/lookup"]["get"]["responses"]["200"]["content"]["application/json"]["examples"]


def test_api_keys_are_listed_only_where_a_key_is_accepted(client, db):
    """An AI developer reading the schema sees the key on lookups, reading works and reading a declaration, and not
    on writes that refuse it (POST /works, PATCH /works/{id}) nor on holder-only endpoints."""
    paths = yaml.safe_load(client.get("/api/v1/schema/").content)["paths"]

    def schemes(path, method):
        return {name for requirement in paths[path][method].get("security", []) for name in requirement}

    for path, method in [("/api/v1/lookup", "get"), ("/api/v1/lookup", "post"), ("/api/v1/works", "get"),
                         ("/api/v1/works/{id}", "get"), ("/api/v1/declarations/{id}", "get")]:
        assert "ApiKey" in schemes(path, method), (path, method)
    for path, method in [("/api/v1/works", "post"), ("/api/v1/works/{id}", "patch"), ("/api/v1/declarations", "get"),
                         ("/api/v1/declarations", "post"), ("/api/v1/declarations/{id}/revoke", "post"),
                         ("/api/v1/claims", "post")]:
        assert "ApiKey" not in schemes(path, method), (path, method)
        assert schemes(path, method), (path, method)  # the holder credentials are still listed


def test_lookups_document_their_rate_limit_headers(client, db):
    paths = yaml.safe_load(client.get("/api/v1/schema/").content)["paths"]
    for method in ("get", "post"):
        headers = paths["/api/v1/lookup"][method]["responses"]["200"]["headers"]
        assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(headers), method
