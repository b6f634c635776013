"""Evidence, open to everyone (no key): the receipt-signing keys and the audit log's public face."""
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.selectors import audit_events_after, audit_head
from receipts.selectors import signing_keys_jwks
from receipts.services import signing_key_check

from ..fields import query_params

JWKS_MAX_AGE = 60
EVENTS_PAGE_DEFAULT = 100
EVENTS_PAGE_MAX = 1000
SEQ_MAX = 2**63 - 1  # sequence numbers are PostgreSQL bigints


class _Public(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]


class _NoQuery(serializers.Serializer):
    pass


class KeyListApi(_Public):
    class OutputSerializer(serializers.Serializer):
        class KeySerializer(serializers.Serializer):
            kty = serializers.ChoiceField(choices=["OKP"])
            crv = serializers.ChoiceField(choices=["Ed25519"])
            x = serializers.CharField(help_text="The public key, base64url.")
            kid = serializers.CharField(help_text="RFC 7638 thumbprint; the `kid` in a receipt's header.")
            alg = serializers.ChoiceField(choices=["EdDSA"])
            use = serializers.ChoiceField(choices=["sig"])
            status = serializers.ChoiceField(choices=["active", "retired"],
                                             help_text="Retired keys sign nothing new; their receipts still verify.")

        keys = KeySerializer(many=True)

    @extend_schema(operation_id="keys_list", summary="Receipt-signing keys (JWKS)",
                   description="The public keys that sign receipts, as a JSON Web Key Set (RFC 7517), retired "
                               "ones included. Verify a receipt with the key whose `kid` its header names.",
                   responses={200: OutputSerializer}, tags=["evidence"])
    def get(self, request):
        query_params(_NoQuery, request)
        # The active key is published before it signs anything: make sure it is, so a verifier that fetches the
        # keys first (as docs/evidence.md says) never caches a set without it.
        ready, _detail = signing_key_check()
        response = Response(signing_keys_jwks())
        # Short enough that a key rotated in stays unknown to a cache for at most a minute (verifiers refetch on an
        # unknown kid); a set without an active key is never cached at all.
        response["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}" if ready else "no-store"
        return response


class AuditHeadSerializer(serializers.Serializer):
    seq = serializers.IntegerField(help_text="Sequence number of the last event (0 for an empty log).")
    hash = serializers.CharField(help_text="Its hash (SHA-256, hex).")


class AuditHeadDetailApi(_Public):
    @extend_schema(operation_id="audit_head", summary="Head of the audit log",
                   description="The last event's sequence number and hash. Keep it: later, the event with that "
                               "number must still have that hash, and every later event must chain to it.",
                   responses={200: AuditHeadSerializer}, tags=["evidence"])
    def get(self, request):
        query_params(_NoQuery, request)
        head = audit_head()
        return Response({"seq": head["seq"], "hash": head["hash"]})


class AuditEventListApi(_Public):
    class InputSerializer(serializers.Serializer):
        after = serializers.IntegerField(min_value=0, max_value=SEQ_MAX, required=False, default=0,
                                         help_text="Return events with a sequence number above this.")
        limit = serializers.IntegerField(min_value=1, max_value=EVENTS_PAGE_MAX, required=False,
                                         default=EVENTS_PAGE_DEFAULT)

    class OutputSerializer(serializers.Serializer):
        class EventSerializer(serializers.Serializer):
            seq = serializers.IntegerField()
            at = serializers.CharField(help_text="UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ, exactly as hashed.")
            action = serializers.CharField(help_text="e.g. declaration.file, identifier.add, rule.set")
            object_type = serializers.CharField()
            object_id = serializers.CharField()
            content_hash = serializers.CharField(
                help_text="A salted commitment: SHA-256 of the canonical JSON of actor, before, after and a random "
                          "per-event salt, none of which is published (guesses cannot be checked against it).")
            prev_hash = serializers.CharField()
            hash = serializers.CharField(
                help_text="SHA-256 of the canonical JSON of seq, at, action, object_type, object_id, content_hash "
                          "and prev_hash.")

        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        results = EventSerializer(many=True)

    @extend_schema(operation_id="audit_events_list", summary="Audit events after a sequence number",
                   description="Public fields only: no actor, no before/after content. Every `hash` can be "
                               "recomputed from the fields shown (docs/evidence.md).",
                   parameters=[InputSerializer], responses={200: OutputSerializer}, tags=["evidence"])
    def get(self, request):
        params = query_params(self.InputSerializer, request)
        after, limit = params["after"], params["limit"]
        events = audit_events_after(after=after, limit=limit)
        url = request.build_absolute_uri(reverse("audit-events"))
        next_url = f"{url}?after={events[-1]['seq']}&limit={limit}" if len(events) == limit else None
        previous_url = f"{url}?after={max(0, after - limit)}&limit={limit}" if after > 0 else None
        return Response({"next": next_url, "previous": previous_url, "results": events})
