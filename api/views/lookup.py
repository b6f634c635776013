"""Lookups for AI developers: one identifier by GET, up to KYODAKU_LOOKUP_BATCH_MAX by POST. API key only."""
import functools
import hashlib
from urllib.parse import parse_qsl

import orjson
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.lookup import lookup_many
from core.db import replica_reads
from core.errors import ValidationFailed, field_error
from core.metrics import lookups_observe
from receipts.batch import batch_receipt_attach
from receipts.services import receipts_attach

from ..auth import ApiKeyAuthentication, HasApiKey, api_key_in_header, api_key_of, organisation_of
from ..errors import RequestTooLarge, problem_rendered
from ..fields import AwareDateTimeField, ReceiptModeField, StrictSerializer, query_params, refuse_future_as_of
from ..negotiation import PLAIN_ACCEPTS, JsonFirstNegotiation
from ..parsers import BoundedJSONParser
from ..renderers import OrjsonRenderer, orjson_bytes
from ..serializers import LookupErrorEntrySerializer, LookupResultSerializer
from ..throttling import RATE_LIMIT_HEADERS, ApiKeyRateThrottle, RateLimitHeadersMixin, rate_limit_count

MAX_ID_CHARS = 8192

RESULT_EXAMPLE = {
    "id": "isbn:978-4-9901661-3-7",
    "identifier": "isbn:9784990166137",
    "registered": True,
    "work": {"id": "5b0c8f0e-3c1a-4d7e-9a51-0d2b7b9f6a10", "title": "Hoshi no Umi, vol. 1", "kind": "manga",
             "work_ref": "HP-100"},
    "holder": {"id": "1f3e2d4c-5b6a-4f8e-9d0c-1b2a3c4d5e6f", "code": "hoshi-pub", "name": "Hoshi Publishing"},
    "purpose": "train-genai",
    "jurisdiction": "JP",
    "as_of": "2026-11-28T12:00:00Z",
    "outcome": "denied",
    "basis": "reserved",
    "regime": "prior-permission",
    "declaration": {"id": "9a1d7c2e-8b4f-4e3a-a6d5-2c1b0f9e8d7c", "scope": "catalogue", "purpose": "train-ai",
                    "jurisdiction": "*", "consent": "reserve", "effective_from": "2026-01-01T00:00:00Z",
                    "effective_until": None, "license_url": "https://hoshi-pub.example/licensing",
                    "conditions": None},
    "license_url": "https://hoshi-pub.example/licensing",
    "disputed": False,
}
UNREGISTERED_EXAMPLE = {
    "id": "url:https://example.com/Gallery/",
    "identifier": "url:https://example.com/Gallery/",
    "registered": False, "work": None, "holder": None, "purpose": "train-genai", "jurisdiction": "FR",
    "as_of": "2026-11-28T12:00:00Z", "outcome": "allowed", "basis": "not-reserved", "regime": "opt-out",
    "declaration": None, "license_url": None, "disputed": False,
}
ERROR_ENTRY_EXAMPLE = {"id": "isbn:123", "error": {"code": "invalid-identifier",
                                                   "detail": "ISBN checksum does not match"}}

BatchEntry = PolymorphicProxySerializer(
    component_name="LookupBatchEntry",
    serializers=[LookupResultSerializer, LookupErrorEntrySerializer],
    resource_type_field_name=None,
    many=True,
)


RATE_LIMIT_RESPONSE_HEADERS = [
    OpenApiParameter(name, OpenApiTypes.INT, OpenApiParameter.HEADER, response=[200, 429], description=text)
    for name, text in zip(RATE_LIMIT_HEADERS, (
        "Requests the key may make per window (absent for a key without a limit).",
        "Requests left in the current window.",
        "Seconds until the current window ends.",
    ), strict=True)
]


class _LookupBase(RateLimitHeadersMixin, APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [BoundedJSONParser]
    renderer_classes = [OrjsonRenderer]
    content_negotiation_class = JsonFirstNegotiation

    @staticmethod
    def _attach_receipts(request, results: list[dict], wanted: bool) -> None:
        if wanted:
            api_key = api_key_of(request)
            receipts_attach(results, sub=api_key.prefix if api_key else None)


def _receipt_mode(*modes: str) -> str:
    """`batch` if the query or the body asks for it, else `single` if either asks for receipts, else `none`."""
    for wanted in ("batch", "single"):
        if wanted in modes:
            return wanted
    return "none"


RECEIPT_HELP = ("`true`: a signed receipt (JWS) per answer; `batch`: one signed `batch_receipt` over the Merkle "
                "root of all answers and a `proof` per answer (docs/evidence.md); `false` (default): none.")


def _ids_of(data) -> list[str]:
    """The batch's ids, checked by hand: DRF's per-item fields cost more than the lookup itself at 10,000 ids."""
    ids = data.get("ids") if isinstance(data, dict) else None
    if not isinstance(ids, list):
        raise ValidationFailed("`ids` must be a list of identifiers.",
                               errors=[field_error("ids", "required" if ids is None else "invalid",
                                                   "A list of `scheme:value` identifiers.")])
    limit = settings.KYODAKU_LOOKUP_BATCH_MAX
    if len(ids) > limit:
        raise RequestTooLarge(f"A batch holds at most {limit} ids; this one has {len(ids)}. Split it.")
    if not ids:
        raise ValidationFailed("`ids` is empty.", errors=[field_error("ids", "empty", "Give at least one id.")])
    errors = [
        field_error(f"ids[{i}]", "invalid", "Each id is a string, `scheme:value`.")
        for i, item in enumerate(ids) if not isinstance(item, str)
    ]
    if errors:
        raise ValidationFailed("Some ids are not strings.", errors=errors[:100])
    return ids


_GET_PARAMS = {"id": MAX_ID_CHARS, "purpose": 64, "jurisdiction": 8}
_RECEIPT_WORDS = {"true": True, "false": False}


def _plain_get_query(params) -> dict | None:
    """The GET's query when it is the plain, valid case (id, purpose, jurisdiction, perhaps receipt=true|false),
    checked without a DRF serializer (whose per-request field copies cost more than the lookup); None for anything
    else (as_of, a missing, repeated, blank, over-long or unknown parameter, a NUL...), which then goes through
    LookupOneApi.InputSerializer so every error reads as before. `params`: a QueryDict."""
    if len(params) > 4:
        return None
    single = {}
    for name, values in params.lists():
        if len(values) != 1:
            return None
        single[name] = values[0]
    return _plain_single_query(single)


def _plain_single_query(params: dict[str, str]) -> dict | None:
    """`_plain_get_query` of a query whose every name came once (`params`: each name's one value)."""
    if len(params) > 4:
        return None
    query = {}
    for name, limit in _GET_PARAMS.items():
        value = params.get(name)
        if not value or len(value) > limit or "\x00" in value or (name != "id" and value != value.strip()):
            return None
        query[name] = value
    receipt = params.get("receipt")
    if len(params) != 3 + (receipt is not None):
        return None
    query["receipt"] = _RECEIPT_WORDS.get(receipt) if receipt is not None else False
    return None if query["receipt"] is None else query


def _plain_query_string(request: WSGIRequest) -> dict | None:
    """`_plain_get_query` of a WSGI request read from its query string as Django's `request.GET` would read it (the
    same bytes, charset and Latin-1 fallback, `urllib.parse.parse_qsl` with blank values kept), into a plain dict
    instead of a QueryDict (5 % of the lane's GET: docs/performance.md, "the access line and the request
    signals"). None for more than four fields or a name given twice: not plain, Django's own parsing then answers."""
    raw = request.META.get("QUERY_STRING", "")
    if raw.count("&") > 3:
        return None
    encoding = request.encoding or settings.DEFAULT_CHARSET
    raw = raw.encode("iso-8859-1")  # django.core.handlers.wsgi.get_bytes_from_wsgi
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:  # as QueryDict
        text = raw.decode("iso-8859-1")
    params = {}
    for name, value in parse_qsl(text, keep_blank_values=True, encoding=encoding):
        if name in params:
            return None
        params[name] = value
    return _plain_single_query(params)


def _answer_etag(result: dict, *, as_of_given: bool) -> str:
    """A strong validator of the answer itself. Without an `as_of` the answer's `as_of` is the request's own time,
    so it is left out: two answers with the same decision, declaration and work share the tag."""
    content = result if as_of_given else {k: v for k, v in result.items() if k != "as_of"}
    digest = hashlib.blake2b(orjson.dumps(content, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()
    return f'"{digest}"'


def _cached_answer(if_none_match: str | None, result: dict, *,
                   as_of_given: bool) -> tuple[int, dict | None, dict[str, str]]:
    """200 with ETag and Cache-Control, or 304 when If-None-Match names the same answer (docs/api.md, caching)."""
    etag = _answer_etag(result, as_of_given=as_of_given)
    max_age = settings.KYODAKU_LOOKUP_MAX_AGE
    headers = {"ETag": etag, "Cache-Control": f"private, max-age={max_age}" if max_age else "private, no-cache"}
    if if_none_match and (if_none_match.strip() == "*" or etag in parse_etags(if_none_match)):
        return 304, None, headers
    return 200, result, headers


def lookup_one_answer(query: dict, api_key, *, if_none_match: str | None) -> tuple[int, dict | None, dict[str, str]]:
    """What a single GET answers once its key is authenticated and counted: (status, body or None, headers).
    Raises the errors the exception handler turns into problem+json. The one home of the GET's rules (engine call,
    counters, receipts, ETag/304, Cache-Control), for LookupOneApi.get and the lean lane (`lookup_one_lean`)."""
    refuse_future_as_of(query.get("as_of"))
    with replica_reads():  # an AI developer's answer may come from a read replica (docs/scaling.md)
        result = lookup_many(ids=[query["id"]], purpose=query["purpose"], jurisdiction=query["jurisdiction"],
                             as_of=query.get("as_of"),
                             organisation_id=None if api_key is None else api_key.organisation_id)[0]
    lookups_observe(path="single", outcomes=(result.get("outcome", "error"),), batch=False)
    if "error" in result:
        error = result["error"]
        raise ValidationFailed(f"{query['id']!r} is not a valid identifier: {error['detail']}",
                               errors=[field_error("id", error["code"], error["detail"])], code=error["code"])
    if query["receipt"]:  # a receipt is signed for this request: never cached, never revalidated
        receipts_attach([result], sub=api_key.prefix if api_key else None)
        return 200, result, {"Cache-Control": "no-store"}
    return _cached_answer(if_none_match, result, as_of_given=query.get("as_of") is not None)


class LookupOneApi(_LookupBase):
    class InputSerializer(serializers.Serializer):
        id = serializers.CharField(max_length=MAX_ID_CHARS, trim_whitespace=False,
                                   help_text="The work's identifier, `scheme:value` (isbn, issn, isrc, iswc, doi, url, "
                                             "url-prefix, domain, sha256, iscc, ref). The scheme may be left out "
                                             "when the value is unambiguous: an http(s) URL, an ISBN with a valid "
                                             "check digit, a DOI (`10.`...`/`), 64 hex digits (SHA-256), `ISCC:`.")
        purpose = serializers.CharField(max_length=64, help_text="A purpose code (see /api/v1/purposes).")
        jurisdiction = serializers.CharField(max_length=8, help_text="ISO 3166-1 alpha-2, `EU` or `*`.")
        as_of = AwareDateTimeField(required=False, help_text="Answer as of this time (default: now).")
        receipt = serializers.BooleanField(required=False, default=False,
                                           help_text="Add a signed receipt (JWS) to the answer.")

    @extend_schema(
        operation_id="lookup_one",
        summary="May this work be used for this purpose here?",
        description=("Answers for one identifier. Anything but `outcome: allowed` (including any error or timeout) "
                     "means: do not use the work. Needs `Authorization: Api-Key <key>`."),
        parameters=[InputSerializer, *RATE_LIMIT_RESPONSE_HEADERS],
        responses={200: LookupResultSerializer},
        examples=[OpenApiExample("registered, reserved", value=RESULT_EXAMPLE, response_only=True),
                  OpenApiExample("not registered, opt-out", value=UNREGISTERED_EXAMPLE, response_only=True)],
        tags=["lookup"],
    )
    def get(self, request):
        query = _plain_get_query(request.query_params) or query_params(self.InputSerializer, request)
        status, body, headers = lookup_one_answer(query, api_key_of(request),
                                                  if_none_match=request.META.get("HTTP_IF_NONE_MATCH"))
        return Response(body, status=status, headers=headers)


@functools.cache
def _allow() -> str:
    """The `Allow` header DRF puts on every answer of LookupOneApi (its methods, HEAD included)."""
    view = LookupOneApi()
    view.setup(HttpRequest())
    return ", ".join(view.allowed_methods)


def lookup_one_lean(request) -> HttpResponse | None:
    """The lean lane of `GET /api/v1/lookup` (docs/performance.md, "a lean lane"): the plain, valid GET of a
    crawler (a plain query string, an `Api-Key` that authenticates, JSON accepted) answered without DRF's
    per-request machinery (its Request, negotiation, authentication, permission and throttle classes, Response
    rendering), through the same functions as LookupOneApi: api_key_in_header, rate_limit_count,
    lookup_one_answer, problem_rendered. None for anything else, which LookupOneApi then answers (every refusal
    before the rate limit counts, e.g. a missing or failing key, a bad query, an `Accept` to negotiate: nothing has
    happened yet). tests/api/test_lookup_lean.py compares the two lanes' answers byte for byte."""
    query = lean_query(request)
    if query is None:
        return None
    api_key = lean_key(request)
    return None if api_key is None else lean_answer(request, query, api_key)


def lean_query(request) -> dict | None:
    """The lean lane's checks that need nothing but the request (method, `Accept`, the plain query string, the
    switch): its query, or None when the lane does not answer. No database, no cache: config.wsgi_lane asks this
    before Django's request_started."""
    if (
        request.method != "GET"
        or request.META.get("HTTP_ACCEPT", "").strip() not in PLAIN_ACCEPTS
        or not settings.KYODAKU_LEAN_GET
    ):
        return None
    if type(request) is WSGIRequest and "GET" not in request.__dict__:  # not parsed yet (an ASGI request is not)
        return _plain_query_string(request)
    return _plain_get_query(request.GET)


def lean_key(request):
    """The request's API key when its `Api-Key` authenticates; None otherwise (the DRF view then refuses it as it
    always did, or accepts another credential)."""
    try:
        return api_key_in_header(request)
    except AuthenticationFailed:
        return None


def lean_answer(request, query: dict, api_key) -> HttpResponse:
    """The lean lane's answer to `request`, whose `lean_query` is `query` and `lean_key` is `api_key`: counted by
    the rate limiter, then answered (a 200, a 304, or the problem+json of a 429 or a bad id, purpose or
    jurisdiction). Any other error is raised."""
    meta = request.META
    allowed, state, wait = rate_limit_count(api_key)
    try:
        if not allowed:
            raise Throttled(wait)
        status, body, headers = lookup_one_answer(query, api_key, if_none_match=meta.get("HTTP_IF_NONE_MATCH"))
        if body is None:
            response = HttpResponse(status=status)
            del response["Content-Type"]
        else:
            response = HttpResponse(orjson_bytes(body), status=status, content_type=OrjsonRenderer.media_type)
        for name, value in headers.items():
            response[name] = value
    except Exception as exc:  # noqa: BLE001 (what the exception handler answers; anything else is re-raised)
        response = problem_rendered(exc)
        if response is None:
            raise
    response["Allow"] = _allow()
    if state is not None:
        for name, value in state.headers().items():
            response[name] = value
    return response


class LookupBatchApi(_LookupBase):
    class QuerySerializer(serializers.Serializer):
        receipt = ReceiptModeField(help_text=RECEIPT_HELP)

    class InputSerializer(StrictSerializer):
        ids = serializers.ListField(child=serializers.CharField(allow_blank=True, trim_whitespace=False), min_length=1,
                                    max_length=10_000,
                                    help_text="Up to KYODAKU_LOOKUP_BATCH_MAX (10,000) identifiers, `scheme:value` "
                                              "(the scheme may be left out when unambiguous, as for `id`).")
        purpose = serializers.CharField(max_length=64)
        jurisdiction = serializers.CharField(max_length=8)
        as_of = AwareDateTimeField(required=False)
        receipt = ReceiptModeField(help_text=RECEIPT_HELP)

    class OutputSerializer(serializers.Serializer):
        results = BatchEntry
        batch_receipt = serializers.CharField(
            required=False, help_text="With receipt=batch: a compact JWS (EdDSA) over the Merkle root of `results`.")

    @extend_schema(
        operation_id="lookup_batch",
        summary="Answers for a batch of identifiers",
        description=("One entry per id, in the same order. A bad id gets an `error` entry; the rest of the batch is "
                     "answered. More than KYODAKU_LOOKUP_BATCH_MAX ids: 413. A batch counts as one request for the "
                     "rate limit. `receipt=true` as a query parameter or in the body adds signed receipts."),
        parameters=[QuerySerializer, *RATE_LIMIT_RESPONSE_HEADERS],
        request=InputSerializer,
        responses={200: OutputSerializer},
        examples=[
            OpenApiExample("batch", request_only=True, value={
                "ids": ["isbn:978-4-9901661-3-7", "url:https://example.com/Gallery/", "isbn:123"],
                "purpose": "train-genai", "jurisdiction": "JP"}),
            OpenApiExample("batch answer", response_only=True, value={
                "results": [RESULT_EXAMPLE, UNREGISTERED_EXAMPLE, ERROR_ENTRY_EXAMPLE]}),
        ],
        tags=["lookup"],
    )
    def post(self, request):
        query = query_params(self.QuerySerializer, request)
        data = request.data
        ids = _ids_of(data)
        # Validate the rest with ids replaced by a stand-in, so the ids list is walked once, above.
        serializer = self.InputSerializer(data={**data, "ids": ["-"]})
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        refuse_future_as_of(fields.get("as_of"))
        with replica_reads():
            results = lookup_many(ids=ids, purpose=fields["purpose"], jurisdiction=fields["jurisdiction"],
                                  as_of=fields.get("as_of"), organisation_id=organisation_of(request))
        lookups_observe(path="batch", outcomes=(r.get("outcome", "error") for r in results))
        mode = _receipt_mode(query["receipt"], fields["receipt"])
        if mode == "batch":
            api_key = api_key_of(request)
            token = batch_receipt_attach(results, sub=api_key.prefix if api_key else None,
                                         purpose=fields["purpose"], jurisdiction=fields["jurisdiction"])
            return Response({"results": results, "batch_receipt": token})
        self._attach_receipts(request, results, mode == "single")
        return Response({"results": results})
