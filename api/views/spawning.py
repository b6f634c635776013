"""`POST /api/v2/query/urls/`: Spawning's "Do Not Train" API, so that datadiligence works unmodified against Kyodaku
(interop.md). The answer's shape is Spawning's; errors are problem+json like the rest of the API."""
from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.spawning import DEFAULT_PURPOSE, spawning_answers, spawning_lines
from core.errors import ValidationFailed, field_error
from core.metrics import lookups_observe

from ..auth import HasApiKey, SpawningApiKeyAuthentication, api_key_of, organisation_of
from ..errors import RequestTooLarge
from ..fields import query_params
from ..throttling import ApiKeyRateThrottle

MAX_LINE_BYTES = 8192


class PlainTextLinesParser(BaseParser):
    """A `text/plain` body of URL lines, read up to the size a full batch can need, as UTF-8."""

    media_type = "text/plain"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.KYODAKU_LOOKUP_BATCH_MAX * (MAX_LINE_BYTES + 1)
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationFailed(f"The body is not UTF-8 text (byte {exc.start}).", code="invalid-encoding") from None


class SpawningQuery(serializers.Serializer):
    purpose = serializers.CharField(required=False, max_length=64,
                                    help_text="A purpose code; default: the API key's, else train-ai.")
    jurisdiction = serializers.CharField(required=False, max_length=8,
                                         help_text="ISO 3166-1 alpha-2, EU or *; default: the API key's.")


class SpawningEntrySerializer(serializers.Serializer):
    url = serializers.CharField(help_text="The line as sent.")
    optOut = serializers.BooleanField(help_text="True when Kyodaku's outcome is denied (and for every bad line).")
    optIn = serializers.BooleanField(help_text="True when the answer's basis is granted.")
    verified = serializers.BooleanField(
        required=False, allow_null=True,
        help_text="Kyodaku's: whether the matched identifier's holder had verified control of its host; null when "
                  "no work matched.")
    error = serializers.DictField(required=False, help_text="`code` and `detail`, for a line that is not a URL.")


class SpawningOutput(serializers.Serializer):
    urls = SpawningEntrySerializer(many=True)


class SpawningUrlsQueryApi(APIView):
    authentication_classes = [SpawningApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [PlainTextLinesParser]

    @extend_schema(
        operation_id="spawning_query_urls",
        summary="Spawning-compatible: may these URLs be used? (datadiligence drop-in)",
        description=("A `text/plain` body of URLs, one per line (at most KYODAKU_LOOKUP_BATCH_MAX), answered as "
                     "Spawning's Do Not Train API does: one entry per line, in order. `Authorization: API <key>` "
                     "or `Api-Key <key>`. Purpose and jurisdiction from the query, else the key's defaults; the "
                     "purpose defaults to train-ai. Lines that are not URLs answer `optOut: true` with `error`."),
        parameters=[SpawningQuery],
        request={"text/plain": {"type": "string"}},
        responses={200: SpawningOutput},
        examples=[OpenApiExample("answer", response_only=True, value={"urls": [
            {"url": "https://hoshi-pub.example/manga/1", "optOut": True, "optIn": False},
            {"url": "https://example.com/", "optOut": False, "optIn": False},
            {"url": "not a url", "optOut": True, "optIn": False,
             "error": {"code": "invalid-identifier", "detail": "Not an absolute http(s) URL."}}]})],
        tags=["lookup"],
    )
    def post(self, request):
        query = query_params(SpawningQuery, request)
        api_key = api_key_of(request)
        purpose = query.get("purpose") or api_key.default_purpose or DEFAULT_PURPOSE
        jurisdiction = query.get("jurisdiction") or api_key.default_jurisdiction
        if not jurisdiction:
            raise ValidationFailed(
                "No jurisdiction: give `?jurisdiction=` or have the API key issued with a default jurisdiction.",
                errors=[field_error("jurisdiction", "required", "ISO 3166-1 alpha-2, EU or *.")])
        if not request.content_type:  # DRF would read a body without a media type as empty
            raise ValidationFailed("Send the URLs with `Content-Type: text/plain`.", code="unsupported-media-type")
        body = request.data if isinstance(request.data, str) else ""
        lines = spawning_lines(body)
        limit = settings.KYODAKU_LOOKUP_BATCH_MAX
        if len(lines) > limit:
            raise RequestTooLarge(f"A request holds at most {limit} URLs; this one has {len(lines)}. Split it.")
        answers = spawning_answers(lines=lines, purpose=purpose, jurisdiction=jurisdiction,
                                   organisation_id=organisation_of(request))
        lookups_observe(path="spawning", outcomes=(
            "error" if "error" in a else "denied" if a["optOut"] else "allowed" for a in answers))
        return Response({"urls": answers})
