"""OpenAPI: the API-key scheme, and problem+json responses documented on every operation."""
from drf_spectacular.drainage import has_override
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import is_list_serializer

from .auth import api_key_methods
from .errors import PROBLEM_CONTENT_TYPE
from .serializers import ProblemSerializer

ERROR_DESCRIPTIONS = {
    "400": "Invalid input (problem+json with `errors`).",
    "401": "No valid credentials.",
    "403": "Authenticated, but not allowed (e.g. a read-only role, or an API key on a holder endpoint).",
    "404": "Not found, or not yours: existence is not revealed.",
    "405": "Method not allowed.",
    "413": "Request body too large.",
    "415": "Unsupported media type.",
    "429": "Rate limit exceeded; see Retry-After.",
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Api-Key <key>`: keys are issued by operators (admin or manage.py create_api_key)."}

    def get_security_requirement(self, auto_schema):
        """Listed only on operations whose permissions admit a key for that method (a key is recognised on holder
        endpoints only to be told it is the wrong credential there)."""
        if auto_schema.method.upper() not in api_key_methods(auto_schema.view):
            return None
        return super().get_security_requirement(auto_schema)


class SpawningApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.SpawningApiKeyAuthentication"
    name = "SpawningApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`API <key>` (Spawning's form, what datadiligence sends) or `Api-Key <key>`."}


class ProblemAutoSchema(AutoSchema):
    """Every operation documents its problem responses, so clients and schemathesis know their shape."""

    def _error_codes(self) -> list[str]:
        codes = ["400", "404", "405"]
        if self.view.authentication_classes or self.get_auth():
            codes += ["401", "403"]
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["413", "415"]
        if getattr(self.view, "throttle_classes", None):
            codes.append("429")
        return codes

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        """Nested `<Entity><Action>Api.OutputSerializer` classes are named after their view (`WorksListOutput`),
        so the house style's generic inner names never collide in the schema's components."""
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        cls = serializer.__class__ if not is_list_serializer(serializer) else serializer.child.__class__
        outer, dot, inner = cls.__qualname__.rpartition(".")
        if not dot or has_override(cls, "component_name") or getattr(getattr(cls, "Meta", None), "ref_name", None):
            return name
        base = inner.removesuffix("Serializer")
        enclosing = outer.split(".")
        views = [part for part in enclosing if part.endswith("Api")]
        prefix = views[-1].removesuffix("Api") if views else enclosing[-1].removesuffix("Serializer")
        return name.replace(base, prefix + base, 1) if base in name else name

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                response = self._get_response_for_code(ProblemSerializer, code, [PROBLEM_CONTENT_TYPE], direction)
                response["description"] = ERROR_DESCRIPTIONS[code]
                responses[code] = response
        return responses


class OperationSchemaGenerator(SchemaGenerator):
    """Documents each method of a `by_method` URL from the view that handles it (api/routing.py)."""

    def create_view(self, callback, method, request=None):
        callback = getattr(callback, "operations", {}).get(method.upper(), callback)
        return super().create_view(callback, method, request)
