"""Output shapes shared by several views, and the problem document. Plain serializers: no business rule here."""
from rest_framework import serializers

from consent.models import Consent, Scope
from consent.vocabulary import PURPOSES
from registry.models import WorkKind

OUTCOMES = ["allowed", "denied"]
BASES = ["granted", "licensed", "reserved", "disputed", "permission-required", "not-reserved"]
REGIMES = ["prior-permission", "opt-out"]


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The input field, `field[i]` for list items; empty for the whole input.")
    code = serializers.CharField()
    detail = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, the body of every error under /api/."""

    type = serializers.CharField(help_text="A URI naming the kind of problem: urn:kyodaku:problem:<code>.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField()
    errors = FieldErrorSerializer(many=True)


class HolderBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    code = serializers.CharField()
    name = serializers.CharField()


class WorkBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    kind = serializers.ChoiceField(choices=WorkKind.choices)
    work_ref = serializers.CharField()


class LookupDeclarationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    scope = serializers.ChoiceField(choices=Scope.choices)
    purpose = serializers.ChoiceField(choices=list(PURPOSES))
    jurisdiction = serializers.CharField()
    consent = serializers.ChoiceField(choices=Consent.choices)
    effective_from = serializers.DateTimeField()
    effective_until = serializers.DateTimeField(allow_null=True)
    license_url = serializers.URLField(allow_null=True, help_text="This declaration's own licence URL, if any.")
    conditions = serializers.CharField(allow_null=True, help_text="This declaration's conditions (free text), if "
                                                                  "any: a grant's terms bind the use it allows.")


class LookupLicenceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    scope = serializers.ChoiceField(choices=Scope.choices)
    purposes = serializers.ListField(child=serializers.CharField(), help_text="Purpose codes (each covers its "
                                     "descendants).")
    jurisdictions = serializers.ListField(child=serializers.CharField(), help_text="Codes, EU or *.")
    effective_from = serializers.DateTimeField()
    effective_until = serializers.DateTimeField(allow_null=True)
    license_url = serializers.URLField(allow_null=True)


class BatchProofSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The answer's leaf index in the batch (its position in `results`).")
    hashes = serializers.ListField(child=serializers.CharField(), help_text=(
        "The RFC 6962 audit path from the leaf up to the signed root, SHA-256 digests in lower-case hex."))


class LookupResultSerializer(serializers.Serializer):
    """The answer for one identifier (api.md, "One result")."""

    id = serializers.CharField(help_text="The id as the client sent it.")
    identifier = serializers.CharField(help_text="Its normalised form, `scheme:value`.")
    registered = serializers.BooleanField()
    work = WorkBriefSerializer(allow_null=True)
    holder = HolderBriefSerializer(allow_null=True)
    verified = serializers.BooleanField(
        allow_null=True, help_text="For a work matched through a url, url-prefix or domain identifier: whether its "
        "holder had verified control of the matched host (or a parent domain) at `as_of`; null otherwise.")
    purpose = serializers.ChoiceField(choices=list(PURPOSES))
    jurisdiction = serializers.CharField()
    as_of = serializers.DateTimeField()
    outcome = serializers.ChoiceField(choices=OUTCOMES, help_text="Anything but `allowed` means: do not use.")
    basis = serializers.ChoiceField(choices=BASES)
    regime = serializers.ChoiceField(choices=REGIMES)
    declaration = LookupDeclarationSerializer(allow_null=True)
    licence = LookupLicenceSerializer(allow_null=True, help_text=(
        "With basis `licensed`: the asking organisation's licence that decided (never in anyone else's answer)."))
    license_url = serializers.URLField(allow_null=True, help_text="Where to ask for permission or a licence.")
    disputed = serializers.BooleanField()
    unverified_grant_ignored = serializers.BooleanField(
        help_text="A grant would have decided, but it was reached through a web identifier whose holder had no "
                  "verified control of the host at `as_of`, so it was skipped (interop.md).")
    receipt = serializers.CharField(required=False, help_text="With receipt=true: a compact JWS (EdDSA) of the answer.")
    proof = BatchProofSerializer(required=False, help_text="With receipt=batch: the answer's Merkle inclusion proof.")


class LookupIdErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class LookupErrorEntrySerializer(serializers.Serializer):
    """A batch entry for an id that is not a valid identifier; the rest of the batch is answered."""

    id = serializers.CharField()
    error = LookupIdErrorSerializer()
    proof = BatchProofSerializer(required=False, help_text="With receipt=batch: the entry's Merkle inclusion proof.")


class DeclarationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    holder = HolderBriefSerializer()
    scope = serializers.ChoiceField(choices=Scope.choices)
    work = serializers.UUIDField(source="work_id", allow_null=True)
    purpose = serializers.ChoiceField(choices=list(PURPOSES))
    jurisdiction = serializers.CharField()
    consent = serializers.ChoiceField(choices=Consent.choices)
    license_url = serializers.CharField(allow_blank=True)
    conditions = serializers.CharField(allow_blank=True)
    effective_from = serializers.DateTimeField()
    effective_until = serializers.DateTimeField(allow_null=True)
    recorded_at = serializers.DateTimeField()
    superseded_at = serializers.DateTimeField(allow_null=True)
    superseded_by = serializers.UUIDField(source="superseded_by_id", allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    filed_by_agent = serializers.CharField(source="filed_by_agent.code", allow_null=True, required=False,
                                           help_text="The collective that filed it under a mandate, if any. "
                                                     "Shown to the holder's users, not to API keys.")
    status = serializers.SerializerMethodField()

    def get_status(self, obj) -> str:
        if obj.revoked_at is not None:
            return "revoked"
        if obj.superseded_at is not None:
            return "superseded"
        return "current"


class DeclarationPublicSerializer(DeclarationSerializer):
    """A declaration as an API key sees it: the statement and its history, not who filed it for the holder (a
    collective acting under a mandate is the holder's private arrangement)."""

    filed_by_agent = None


class WorkSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    holder = HolderBriefSerializer()
    work_ref = serializers.CharField()
    title = serializers.CharField()
    original_title = serializers.CharField(allow_blank=True)
    kind = serializers.ChoiceField(choices=WorkKind.choices)
    identifiers = serializers.SerializerMethodField()
    filed_by_agent = serializers.CharField(source="filed_by_agent.code", allow_null=True, required=False,
                                           help_text="The collective that filed it under a mandate, if any. "
                                                     "Shown to the holder's users, not to API keys.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_identifiers(self, obj) -> list[str]:
        return [f"{i.scheme}:{i.value}" for i in obj.current_identifiers]


class WorkDetailSerializer(WorkSerializer):
    declarations = DeclarationSerializer(many=True, source="declarations_in_force",
                                         help_text="The work's and its holder's catalogue declarations in force now.")


class WorkPublicSerializer(WorkSerializer):
    """A work as an API key sees it: no `filed_by_agent` (a holder's arrangement with its collective)."""

    filed_by_agent = None


class WorkDetailPublicSerializer(WorkPublicSerializer):
    declarations = DeclarationPublicSerializer(many=True, source="declarations_in_force",
                                               help_text="The work's and its holder's catalogue declarations in "
                                                         "force now.")


class DisputeBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    identifier = serializers.CharField()
    status = serializers.CharField()


class WorkWriteResultSerializer(WorkDetailSerializer):
    disputes = DisputeBriefSerializer(
        many=True, source="reported_disputes",
        help_text="Identifiers of this filing registered to another holder's work: each is in dispute (not moved) "
                  "until an operator resolves it.")
