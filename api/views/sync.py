"""Answers at dataset scale (sync.md): the change feed, snapshots and their files. API key only."""
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound
from sync.changes import DEFAULT_LIMIT, MAX_LIMIT, changes_wait
from sync.snapshots import CONTENT_TYPES, FILE_NAMES, snapshot_file, snapshot_request, snapshot_storage

from ..auth import ApiKeyAuthentication, HasApiKey, api_key_of
from ..fields import query_params
from ..throttling import ApiKeyRateThrottle

MAX_WAIT_SECONDS = 30


class _ApiKeyView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]


class ChangeListApi(_ApiKeyView):
    class InputSerializer(serializers.Serializer):
        after = serializers.CharField(required=False, allow_blank=True, max_length=32, help_text=(
            "A `cursor` or `next` of this feed; omitted or `0`: from the beginning. Unknown: 400."))
        limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, required=False, default=DEFAULT_LIMIT)
        wait = serializers.IntegerField(min_value=0, max_value=MAX_WAIT_SECONDS, required=False, default=0,
                                        help_text="Seconds to hold the request open while nothing is new (≤ 30).")

    class OutputSerializer(serializers.Serializer):
        class ChangeSerializer(serializers.Serializer):
            cursor = serializers.CharField(help_text="This change's position; stable forever.")
            at = serializers.DateTimeField(help_text="When it was recorded.")
            kind = serializers.CharField(help_text=(
                "e.g. declaration.file, identifier.add, dispute.open, rule.set, bundle (a claims import's changes "
                "to one work, its identifiers and declarations); for your organisation only: "
                "licence.file|supersede|revoke, permission_request.open|accept|decline|withdraw"))
            keys = serializers.ListField(child=serializers.CharField(), help_text=(
                "Keys whose answers may have changed: `scheme:value`, `ref:<holder>/<work_ref>`, `holder:<code>` "
                "(the holder's whole catalogue) or `rule:<jurisdiction>/<purpose>`; on your organisation's private "
                "entries also `licence:<id>` and `permission-request:<id>`."))

        results = ChangeSerializer(many=True)
        next = serializers.CharField(help_text="The cursor to ask with next (the same one when nothing is new).")

    @extend_schema(
        operation_id="changes_list", summary="Changes that can alter answers, in order, without gaps",
        description=("Every change that can alter a lookup answer after the cursor `after`, oldest first: "
                     "declarations, identifiers, disputes, work transfers, rules; and the events of the licences to "
                     "your key's organisation and of its permission requests (no one else's). No personal data. "
                     "See docs/sync.md."),
        parameters=[InputSerializer], responses={200: OutputSerializer},
        examples=[OpenApiExample("page", response_only=True, value={
            "results": [{"cursor": "1042", "at": "2026-11-28T12:00:00.123456Z", "kind": "declaration.file",
                         "keys": ["holder:hoshi-pub"]},
                        {"cursor": "1045", "at": "2026-11-28T12:00:05.000001Z", "kind": "identifier.add",
                         "keys": ["isbn:9784990166137"]}],
            "next": "1045"})],
        tags=["sync"])
    def get(self, request):
        params = query_params(self.InputSerializer, request)
        entries, next_cursor = changes_wait(after=params.get("after"), limit=params["limit"], wait=params["wait"],
                                            organisation_id=api_key_of(request).organisation_id)
        return Response({"results": entries, "next": next_cursor})


RETRY_AFTER_SECONDS = 30


class SnapshotManifestApi(_ApiKeyView):
    class InputSerializer(serializers.Serializer):
        purpose = serializers.CharField(max_length=64, help_text="A purpose code (see /api/v1/purposes).")
        jurisdiction = serializers.CharField(max_length=8, help_text="ISO 3166-1 alpha-2, `EU` or `*`.")

    class OutputSerializer(serializers.Serializer):
        manifest = serializers.CharField(help_text=(
            "A compact JWS (EdDSA, the receipt keys, typ kyodaku-snapshot+jwt) whose payload names purpose, "
            "jurisdiction, regime, cursor, audit_head, created_at and files (name, url, sha256, bytes, count)."))

    class BuildingSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["queued", "building"])
        detail = serializers.CharField()

    @extend_schema(
        operation_id="snapshot_manifest", summary="The newest snapshot of every registered key's answer",
        description=("The signed manifest of the newest snapshot for the pair; 202 with `Retry-After` while the "
                     "first one is built. See docs/sync.md."),
        parameters=[InputSerializer],
        responses={200: OutputSerializer, 202: BuildingSerializer}, tags=["sync"])
    def get(self, request):
        params = query_params(self.InputSerializer, request)
        snapshot = snapshot_request(purpose=params["purpose"], jurisdiction=params["jurisdiction"])
        if snapshot is None:
            response = Response({"status": "building", "detail": "The first snapshot for this pair is being built; "
                                 f"ask again in {RETRY_AFTER_SECONDS} seconds."}, status=202)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        return Response({"manifest": snapshot.manifest})


class SnapshotFileDownloadApi(_ApiKeyView):
    @extend_schema(
        operation_id="snapshot_file", summary="A snapshot's file (answers or filter)",
        description="`answers`: gzip JSON lines; `filter`: the Bloom filter (docs/sync.md). Check its `sha256`.",
        responses={200: OpenApiResponse(OpenApiTypes.BINARY, description="The file's bytes.")}, tags=["sync"])
    def get(self, request, id, name):
        found = snapshot_file(snapshot_id=id, name=name) if name in FILE_NAMES else None
        if found is None:
            raise NotFound("No such snapshot file.")
        _, entry = found
        response = FileResponse(snapshot_storage().open(entry["path"], "rb"), content_type=CONTENT_TYPES[name],
                                as_attachment=True, filename=FILE_NAMES[name])
        response["Content-Length"] = str(entry["bytes"])
        response["ETag"] = f'"{entry["sha256"]}"'
        response["Cache-Control"] = "private, max-age=31536000, immutable"  # a snapshot's files never change
        return response
