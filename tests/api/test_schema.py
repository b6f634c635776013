"""The OpenAPI schema is part of the contract: it builds without warnings, and the docs need no CDN."""
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
        assert "cdn" not in html.lower() and "unpkg" not in html.lower()  # served from our static files


def test_lookup_examples_are_in_the_schema(client, db):
    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    post = schema["paths"]["/api/v1/lookup"]["post"]
    assert post["requestBody"]["content"]["application/json"]["examples"]
    assert schema["paths"]["/api/v1/lookup"]["get"]["responses"]["200"]["content"]["application/json"]["examples"]
