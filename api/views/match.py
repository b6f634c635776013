"""Content matching for AI developers (match.md): `POST /api/v1/match` with codes (JSON) or a file (multipart)."""
import orjson
from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.matching import (
    DEFAULT_LIMIT,
    DEFAULT_MAX_DISTANCE,
    MAX_DISTANCE_LIMIT,
    MAX_LIMIT,
    METHODS,
    PDQ_DIHEDRAL,
    CodeSet,
    codes_from_mapping,
    match_many,
)
from core.db import replica_reads
from core.errors import ValidationFailed, field_error
from registry.fingerprints import ContentError, codes_for_bytes

from ..auth import ApiKeyAuthentication, HasApiKey, organisation_of
from ..errors import RequestTooLarge
from ..fields import AwareDateTimeField, StrictSerializer, refuse_future_as_of
from ..parsers import BoundedJSONParser
from ..renderers import OrjsonRenderer
from ..serializers import HolderBriefSerializer, LookupResultSerializer, WorkBriefSerializer
from ..throttling import ApiKeyRateThrottle, RateLimitHeadersMixin
from .lookup import RATE_LIMIT_RESPONSE_HEADERS, RESULT_EXAMPLE, UNREGISTERED_EXAMPLE

_MULTIPART_SLACK = 64 * 1024


class _MatchUploadLimit(FileUploadHandler):
    """Refuses a file over KYODAKU_MATCH_MAX_FILE_BYTES as it streams (a chunked upload announces no length)."""

    def receive_data_chunk(self, raw_data, start):
        cap = settings.KYODAKU_MATCH_MAX_FILE_BYTES
        if start + len(raw_data) > cap:
            raise RequestTooLarge(f"The file is over the limit of {cap:,} bytes.")
        return raw_data

    def file_complete(self, file_size):
        return None


class _CodesSerializer(serializers.Serializer):
    sha256 = serializers.CharField(required=False, help_text="64 hex digits: SHA-256 of the file.")
    iscc = serializers.CharField(required=False, help_text="An ISCC code (`ISCC:...`).")
    phash = serializers.CharField(required=False, help_text="16 hex digits: imagehash.phash.")
    pdq = serializers.CharField(required=False, help_text="64 hex digits: the 256-bit PDQ hash.")
    pdq_dihedral = serializers.ListField(
        child=serializers.CharField(), required=False, min_length=1, max_length=8,
        help_text="Optional: the PDQ codes of the image's eight dihedral transformations (pdqhash.compute_dihedral, "
                  "the first the image as it is), each searched as `pdq` is: finds a mirrored or rotated copy of a "
                  "registered image (docs/match.md).")


class _MaxDistanceSerializer(serializers.Serializer):
    phash = serializers.IntegerField(required=False, min_value=0, max_value=MAX_DISTANCE_LIMIT["phash"],
                                     help_text=f"Default {DEFAULT_MAX_DISTANCE['phash']} of 64 bits.")
    pdq = serializers.IntegerField(required=False, min_value=0, max_value=MAX_DISTANCE_LIMIT["pdq"],
                                   help_text=f"Default {DEFAULT_MAX_DISTANCE['pdq']} of 256 bits.")


class MatchSerializer(serializers.Serializer):
    work = WorkBriefSerializer()
    holder = HolderBriefSerializer()
    method = serializers.ChoiceField(choices=METHODS)
    distance = serializers.IntegerField(help_text="Hamming distance in bits (0 for sha256 and iscc).")
    score = serializers.FloatField(help_text="1 - distance / bits of the method: 1.0 for an exact match.")
    answer = LookupResultSerializer(help_text="The full lookup result for the work (as GET /lookup).")


class MatchResultSerializer(serializers.Serializer):
    matches = MatchSerializer(many=True, help_text="Best first, one per work; an exact sha256 match comes first.")
    answer = LookupResultSerializer(allow_null=True, help_text="With no match: the answer for an unregistered "
                                                               "work in this jurisdiction (fail closed either "
                                                               "way); null when something matched.")


class MatchApi(RateLimitHeadersMixin, APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [BoundedJSONParser, MultiPartParser]
    renderer_classes = [OrjsonRenderer]

    class InputSerializer(StrictSerializer):
        codes = _CodesSerializer(required=False, help_text="One code set (or send `batch`, or a multipart `file`).")
        batch = serializers.ListField(child=_CodesSerializer(), required=False,
                                      help_text="Up to KYODAKU_MATCH_BATCH_MAX (1,000) code sets.")
        purpose = serializers.CharField(max_length=64)
        jurisdiction = serializers.CharField(max_length=8)
        as_of = AwareDateTimeField(required=False)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
        max_distance = _MaxDistanceSerializer(required=False)

    class FileInputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="An image (PNG, JPEG, GIF, WebP, BMP, TIFF) or UTF-8 text.")
        purpose = serializers.CharField(max_length=64)
        jurisdiction = serializers.CharField(max_length=8)
        as_of = AwareDateTimeField(required=False)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
        max_distance = serializers.CharField(required=False, help_text='JSON, as `{"phash": 8}`.')
        dihedral = serializers.BooleanField(
            required=False, default=True,
            help_text="For an image: also search PDQ for its mirrored and rotated forms (the eight dihedral PDQ "
                      "codes), so that a flipped or rotated copy of a registered image is found. Default true.")

    class OutputSerializer(MatchResultSerializer):
        codes = _CodesSerializer(help_text="The codes matched (computed from the file when one was sent).")

    class BatchOutputSerializer(serializers.Serializer):
        results = MatchResultSerializer(many=True, help_text="One per code set, in order.")

    def initial(self, request, *args, **kwargs):
        if request.content_type.startswith("multipart/"):  # bound the upload before anything reads the body
            try:
                announced = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                announced = 0
            cap = settings.KYODAKU_MATCH_MAX_FILE_BYTES
            if announced > cap + _MULTIPART_SLACK:
                raise RequestTooLarge(f"The request is {announced:,} bytes; a file may have {cap:,}.")
            request._request.upload_handlers.insert(0, _MatchUploadLimit(request._request))
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="match",
        summary="Which registered works is this content?",
        description=("Matches content codes (sha256, iscc exactly; phash, pdq by Hamming distance up to "
                     "`max_distance`) against registered fingerprints and answers each matched work as a lookup "
                     "does. Send JSON `codes` (one set, computed on your machine: docs/match.md), JSON `batch` "
                     "(up to 1,000 sets; answer `results`), or a multipart `file`. No match: `matches` is empty "
                     "and `answer` is the answer for an unregistered work."),
        request={"application/json": InputSerializer, "multipart/form-data": FileInputSerializer},
        parameters=RATE_LIMIT_RESPONSE_HEADERS,
        responses={200: OutputSerializer},
        examples=[
            OpenApiExample("codes", request_only=True, value={
                "codes": {"phash": "c3b4e1c1c1e39696", "sha256": "9f86d081884c7d659a2feb1a1c0c82b85d34c8c1a8f42f7a"
                                                                  "91a86c0e9e0b0a3b"},
                "purpose": "train-genai", "jurisdiction": "JP"}),
            OpenApiExample("a match", response_only=True, value={
                "matches": [{"work": RESULT_EXAMPLE["work"], "holder": RESULT_EXAMPLE["holder"], "method": "phash",
                             "distance": 4, "score": 0.9375, "answer": RESULT_EXAMPLE}],
                "answer": None, "codes": {"phash": "c3b4e1c1c1e39696"}}),
            OpenApiExample("no match", response_only=True, value={
                "matches": [], "answer": UNREGISTERED_EXAMPLE, "codes": {"phash": "c3b4e1c1c1e39696"}}),
        ],
        tags=["lookup"],
    )
    def post(self, request):
        if request.content_type.startswith("multipart/"):
            fields, code_sets = self._file_request(request)
        else:
            fields, code_sets = self._json_request(request)
        refuse_future_as_of(fields.get("as_of"))
        with replica_reads():
            results = match_many(code_sets=code_sets, purpose=fields["purpose"], jurisdiction=fields["jurisdiction"],
                                 as_of=fields.get("as_of"), limit=fields["limit"],
                                 max_distance=fields.get("max_distance"), organisation_id=organisation_of(request))
        if fields.get("batch") is not None:
            return Response({"results": results})
        codes = dict(code_sets[0].codes)
        if code_sets[0].pdq_variants:
            codes[PDQ_DIHEDRAL] = list(code_sets[0].pdq_variants)
        return Response({**results[0], "codes": codes})

    def _json_request(self, request):
        data = request.data
        batch = data.get("batch") if isinstance(data, dict) else None
        limit = settings.KYODAKU_MATCH_BATCH_MAX
        if isinstance(batch, list) and len(batch) > limit:
            raise RequestTooLarge(f"A batch holds at most {limit} code sets; this one has {len(batch)}. Split it.")
        serializer = self.InputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        if ("codes" in fields) == ("batch" in fields):
            raise ValidationFailed("Send either `codes` (one set) or `batch` (a list of sets).",
                                   errors=[field_error("codes", "required", "Exactly one of `codes`, `batch`.")])
        if "batch" in fields:
            if not fields["batch"]:
                raise ValidationFailed("`batch` is empty.", errors=[field_error("batch", "empty", "Give a set.")])
            code_sets = [codes_from_mapping(raw, field=f"batch[{i}]") for i, raw in enumerate(data["batch"])]
        else:
            code_sets = [codes_from_mapping(data["codes"])]
        return fields, code_sets

    def _file_request(self, request):
        if "file" not in request.FILES:
            raise ValidationFailed("A multipart match needs a file.",
                                   errors=[field_error("file", "missing-value", "Attach the content as `file`.")])
        serializer = self.FileInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        if "max_distance" in fields:
            try:
                raw = orjson.loads(fields["max_distance"])
            except orjson.JSONDecodeError:
                raw = None
            distances = _MaxDistanceSerializer(data=raw)
            if not isinstance(raw, dict) or not distances.is_valid():
                raise ValidationFailed("`max_distance` must be a JSON object, as {\"phash\": 8}.",
                                       errors=[field_error("max_distance", "invalid", "Methods phash, pdq; "
                                                           "each a number of bits within its limit.")])
            fields["max_distance"] = distances.validated_data
        upload = fields["file"]
        try:
            codes = codes_for_bytes(upload.read(), max_pixels=settings.KYODAKU_MATCH_MAX_PIXELS,
                                    dihedral=fields["dihedral"])
        except ContentError as exc:
            raise ValidationFailed(f"The file cannot be fingerprinted: {exc.detail}.",
                                   errors=[field_error("file", "unreadable-content", exc.detail)],
                                   code="unreadable-content") from None
        variants = tuple(codes.pop(PDQ_DIHEDRAL, ()))
        return fields, [CodeSet(codes, variants)]
