"""Bulk claims over HTTP (api.md, "Bulk claims"): submit a CSV, read its status, download its error report.

Only the HTTP face: the services and selectors of `claims` do the work (the web admin calls the same ones).
"""
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from claims.export import (
    claims_export_encoding,
    claims_export_filename,
    claims_export_holder,
    claims_export_stream,
)
from claims.selectors import (
    claims_errors_csv,
    claims_errors_csv_content_type,
    claims_submission_get_for_user,
    claims_submission_status,
)
from claims.services import claims_submission_admit, claims_submission_create
from claims.uploads import claims_upload_prepare
from core.errors import ValidationFailed, field_error

from ..auth import ApiKeyAuthentication, IsHolderUser, TokenAuthentication


class _ClaimsBase(APIView):
    # The API key last: it is recognised only to be told that claims are for holders' users (403, not 401).
    authentication_classes = [TokenAuthentication, SessionAuthentication, ApiKeyAuthentication]
    permission_classes = [IsHolderUser]


def _status_url(request, submission) -> str:
    return request.build_absolute_uri(reverse("claims-detail", kwargs={"id": submission.pk}))


def _errors_url(request, submission) -> str:
    return request.build_absolute_uri(reverse("claims-errors", kwargs={"id": submission.pk}))


class ClaimsSubmissionCreateApi(_ClaimsBase):
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        # An empty file is accepted and reported by the submission (status failed, with its reason): api.md
        # refuses the POST only for a missing file, one over the size limit, or a holder one may not file for.
        file = serializers.FileField(allow_empty_file=True, help_text="The claims CSV (claims-csv.md).")
        holder = serializers.SlugField(required=False, max_length=64,
                                       help_text="The holder the file is submitted as; default: your own. May "
                                                 "also be given in the query string (`?holder=`), where it is "
                                                 "checked before the file is read.")
        dry_run = serializers.BooleanField(required=False, default=False,
                                           help_text="Validate and count every row, write nothing.")

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        status = serializers.CharField()
        url = serializers.URLField()

    def initial(self, request, *args, **kwargs):
        # Before anything reads the body (a session's CSRF check in authentication would): bound its reading.
        claims_upload_prepare(request._request)
        super().initial(request, *args, **kwargs)
        # Authenticated, body still unread (token): who files for whom, the role and the queue, first.
        claims_submission_admit(user=request.user, holder_code=request.query_params.get("holder"), size=None)

    @extend_schema(operation_id="claims_submit", summary="Submit a claims CSV",
                   request={"multipart/form-data": InputSerializer},
                   parameters=[OpenApiParameter("holder", str, OpenApiParameter.QUERY, required=False,
                                                description="The holder the file is submitted as, checked before "
                                                            "the file is read (or `holder` in the form).")],
                   responses={202: OutputSerializer})
    def post(self, request):
        if "file" not in request.FILES:
            raise ValidationFailed("A claims submission needs a file.",
                                   errors=[field_error("file", "missing-value", "Attach the CSV file as `file`.")])
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        submission = claims_submission_create(user=request.user, file=data.validated_data["file"],
                                              holder_code=(data.validated_data.get("holder")
                                                           or request.query_params.get("holder")),
                                              dry_run=data.validated_data["dry_run"])
        submission.refresh_from_db(fields=["status"])
        url = _status_url(request, submission)
        body = self.OutputSerializer({"id": submission.pk, "status": submission.status, "url": url}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


class ClaimsSubmissionDetailApi(_ClaimsBase):
    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["queued", "running", "done", "done-with-errors", "failed"])
        rows_total = serializers.IntegerField(allow_null=True)
        rows_done = serializers.IntegerField()
        rows_ok = serializers.IntegerField()
        rows_failed = serializers.IntegerField()
        works_created = serializers.IntegerField()
        works_updated = serializers.IntegerField()
        declarations_created = serializers.IntegerField()
        disputes_opened = serializers.IntegerField()
        error = serializers.CharField(allow_null=True)
        errors_url = serializers.URLField()

    @extend_schema(operation_id="claims_status", summary="A claims submission's status and counts",
                   responses={200: OutputSerializer})
    def get(self, request, id):
        submission = claims_submission_get_for_user(user=request.user, submission_id=id)
        return Response(self.OutputSerializer(
            claims_submission_status(submission=submission, errors_url=_errors_url(request, submission))).data)


class _CsvRenderer(BaseRenderer):
    """Lets `Accept: text/csv` through content negotiation; the view streams the body itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class ClaimsSubmissionErrorsApi(_ClaimsBase):
    renderer_classes = [JSONRenderer, _CsvRenderer]

    @extend_schema(operation_id="claims_errors", summary="The rejected rows of a claims submission, as CSV",
                   responses={(200, "text/csv"): OpenApiResponse(response=OpenApiTypes.STR,
                                                                 description="line,column,code,message,value")})
    def get(self, request, id):
        submission = claims_submission_get_for_user(user=request.user, submission_id=id)
        response = StreamingHttpResponse(claims_errors_csv(submission=submission),
                                         content_type=claims_errors_csv_content_type(submission=submission))
        response["Content-Disposition"] = f'attachment; filename="claims-{submission.pk}-errors.csv"'
        return response


class ClaimsExportApi(_ClaimsBase):
    """A holder's registry out, as a claims CSV that POST /api/v1/claims takes back unchanged (docs/claims.md)."""

    renderer_classes = [JSONRenderer, _CsvRenderer]

    class QuerySerializer(serializers.Serializer):
        holder = serializers.SlugField(required=False, max_length=64,
                                       help_text="The holder to export: your own (default) or a principal's.")
        encoding = serializers.CharField(required=False, max_length=16,
                                         help_text="`utf-8` (default, with a byte-order mark) or `cp932`.")

    @extend_schema(operation_id="claims_export", summary="Export a holder's works, identifiers and declarations",
                   parameters=[QuerySerializer],
                   responses={(200, "text/csv"): OpenApiResponse(
                       response=OpenApiTypes.STR, description="A claims CSV (claims-csv.md), streamed.")})
    def get(self, request):
        holder = claims_export_holder(user=request.user, code=request.query_params.get("holder"))
        encoding = claims_export_encoding(request.query_params.get("encoding"))
        response = StreamingHttpResponse(claims_export_stream(holder=holder, encoding=encoding),
                                         content_type=f"text/csv; charset={encoding}")
        response["Content-Disposition"] = f'attachment; filename="{claims_export_filename(holder, encoding)}"'
        return response
