"""Fingerprints from files (match.md; docs/match.md "Fingerprints from files"): a holder's user uploads a work's
file, a Celery task computes its codes and attaches them to the work. Thin views over registry.fingerprinting."""
from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from registry.fingerprinting import fingerprint_file_too_large, fingerprint_job_create
from registry.models import FingerprintJob, Work
from registry.selectors import works_visible_to

from ..auth import ApiKeyAuthentication, IsHolderUser, TokenAuthentication
from ..errors import RequestTooLarge
from ..renderers import OrjsonRenderer
from ..throttling import ApiKeyRateThrottle, RateLimitHeadersMixin

_MULTIPART_SLACK = 64 * 1024


class _UploadLimit(FileUploadHandler):
    """Refuses a file over KYODAKU_FINGERPRINT_MAX_FILE_BYTES as it streams (a chunked upload announces none)."""

    def receive_data_chunk(self, raw_data, start):
        cap = settings.KYODAKU_FINGERPRINT_MAX_FILE_BYTES
        if start + len(raw_data) > cap:
            raise RequestTooLarge(f"The file is over the limit of {cap:,} bytes.")
        return raw_data

    def file_complete(self, file_size):
        return None


class FingerprintJobSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Where to follow the job.")
    work = serializers.UUIDField(source="work_id", read_only=True)
    codes = serializers.DictField(child=serializers.CharField(), read_only=True,
                                  help_text="sha256, iscc, phash, pdq as attached (empty until done).")
    file_kept = serializers.SerializerMethodField(help_text="Whether the file is still stored.")

    class Meta:
        model = FingerprintJob
        fields = ("id", "work", "state", "error", "codes", "disputes_opened", "file_name", "file_size", "keep",
                  "file_kept", "created_at", "finished_at", "url")

    def get_url(self, job) -> str:
        return reverse("work-file", kwargs={"id": job.work_id, "job": job.pk})

    def get_file_kept(self, job) -> bool:
        return bool(job.file)


def _visible_work(request, id) -> Work:
    work = works_visible_to(request.user).filter(pk=id).first()
    if work is None:
        raise NotFound("No such work.")
    return work


class _Base(RateLimitHeadersMixin, APIView):
    authentication_classes = [TokenAuthentication, SessionAuthentication, ApiKeyAuthentication]
    permission_classes = [IsHolderUser]
    throttle_classes = [ApiKeyRateThrottle]
    renderer_classes = [OrjsonRenderer]


class WorkFileUploadApi(_Base):
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(required=False, allow_empty_file=True,
                                     help_text="An image (PNG, JPEG, GIF, WebP, BMP, TIFF) or UTF-8 text.")
        keep = serializers.BooleanField(required=False, default=False,
                                        help_text="Keep the file after fingerprinting (default: deleted).")

    def initial(self, request, *args, **kwargs):
        try:
            announced = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            announced = 0
        if announced > _MULTIPART_SLACK and (too_large := fingerprint_file_too_large(announced - _MULTIPART_SLACK)):
            raise too_large
        request._request.upload_handlers.insert(0, _UploadLimit(request._request))
        super().initial(request, *args, **kwargs)

    @extend_schema(operation_id="works_files_upload", summary="Upload a work's file to be fingerprinted",
                   description=("202 with the job: a task computes the file's sha256, iscc, phash and pdq and "
                                "attaches them to the work (all or none; a code registered to another holder's "
                                "work opens a dispute). The file is deleted after, unless `keep`."),
                   request={"multipart/form-data": InputSerializer}, responses={202: FingerprintJobSerializer},
                   tags=["works"])
    def post(self, request, id):
        work = _visible_work(request, id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = fingerprint_job_create(work=work, user=request.user, upload=serializer.validated_data.get("file"),
                                     keep=serializer.validated_data["keep"])
        job.refresh_from_db()  # eager in tests and development: the task may have run already
        return Response(FingerprintJobSerializer(job).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": FingerprintJobSerializer().get_url(job)})


class WorkFileDetailApi(_Base):
    @extend_schema(operation_id="works_files_retrieve", summary="A fingerprinting job: state, codes, error",
                   responses={200: FingerprintJobSerializer}, tags=["works"])
    def get(self, request, id, job):
        work = _visible_work(request, id)
        found = FingerprintJob.objects.filter(work=work, pk=job).first()
        if found is None:
            raise NotFound("No such file upload.")
        return Response(FingerprintJobSerializer(found).data)
