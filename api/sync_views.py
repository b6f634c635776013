"""Answers at dataset scale (sync.md): the change feed. API key only."""
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from sync.changes import DEFAULT_LIMIT, MAX_LIMIT, changes_wait

from .auth import ApiKeyAuthentication, HasApiKey
from .fields import query_params
from .throttling import ApiKeyRateThrottle

MAX_WAIT_SECONDS = 30


class _ApiKeyView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]


class ChangesListApi(_ApiKeyView):
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
            kind = serializers.CharField(help_text="e.g. declaration.file, identifier.add, dispute.open, rule.set")
            keys = serializers.ListField(child=serializers.CharField(), help_text=(
                "Keys whose answers may have changed: `scheme:value`, `ref:<holder>/<work_ref>`, `holder:<code>` "
                "(the holder's whole catalogue) or `rule:<jurisdiction>/<purpose>`."))

        results = ChangeSerializer(many=True)
        next = serializers.CharField(help_text="The cursor to ask with next (the same one when nothing is new).")

    @extend_schema(
        operation_id="changes_list", summary="Changes that can alter answers, in order, without gaps",
        description=("Every change that can alter a lookup answer after the cursor `after`, oldest first: "
                     "declarations, identifiers, disputes, work transfers, rules. No personal data. See docs/sync.md."),
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
        entries, next_cursor = changes_wait(after=params.get("after"), limit=params["limit"], wait=params["wait"])
        return Response({"results": entries, "next": next_cursor})
