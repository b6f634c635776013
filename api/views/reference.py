"""Reference data, open to everyone: the purpose tree and the jurisdictions with their rules."""
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.models import ALL_PURPOSES, Jurisdiction, Rule
from consent.rulebook import rulebook
from consent.vocabulary import PURPOSE_LABELS, PURPOSES, same_as

from ..fields import query_params
from ..serializers import REGIMES


class _Public(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]


class NoQuery(serializers.Serializer):
    pass


class PurposeListApi(_Public):
    @extend_schema_serializer(component_name="Purpose")
    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        parent = serializers.CharField(allow_null=True)
        label = serializers.CharField()
        children = serializers.ListField(child=serializers.CharField())
        same_as = serializers.ListField(child=serializers.CharField())

    @extend_schema(operation_id="purposes_list", summary="The purpose tree",
                   description="A declaration for a purpose covers its descendants unless a more specific one exists.",
                   responses={200: OutputSerializer(many=True)}, tags=["reference"])
    def get(self, request):
        query_params(NoQuery, request)
        data = [
            {"code": code, "parent": parent, "label": PURPOSE_LABELS[code],
             "children": [c for c, p in PURPOSES.items() if p == code], "same_as": same_as(code)}
            for code, parent in PURPOSES.items()
        ]
        return Response(data)


class JurisdictionRuleSerializer(serializers.Serializer):
    purpose = serializers.CharField(help_text="A purpose code, or `*` for all purposes.")
    regime = serializers.ChoiceField(choices=REGIMES)
    basis = serializers.CharField()
    valid_from = serializers.DateTimeField()

class JurisdictionRegimeSerializer(serializers.Serializer):
    regime = serializers.ChoiceField(choices=REGIMES)
    basis = serializers.CharField()
    rule_jurisdiction = serializers.CharField(help_text="Where the deciding rule is set: this code, its region "
                                                        "or `*`.")
    rule_purpose = serializers.CharField(help_text="The rule's purpose, or `*` for all purposes.")


class JurisdictionListApi(_Public):
    @extend_schema_serializer(component_name="Jurisdiction")
    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        name = serializers.CharField()
        parent = serializers.CharField(allow_null=True, help_text="Its region (e.g. EU), if any.")
        rules = JurisdictionRuleSerializer(many=True,
                                           help_text="The rules set for this jurisdiction itself, in force now.")
        regimes = serializers.DictField(help_text="For every purpose: the regime that applies here now and its "
                                                  "basis, after walking the jurisdiction's and purpose's chains.",
                                        child=JurisdictionRegimeSerializer())

    @extend_schema(operation_id="jurisdictions_list", summary="Jurisdictions and their rules",
                   description=("Every jurisdiction with a rule or a region, `*` (everywhere else) and `EU` "
                                "included. Any other valid ISO 3166-1 alpha-2 code follows `*`."),
                   responses={200: OutputSerializer(many=True)}, tags=["reference"])
    def get(self, request):
        query_params(NoQuery, request)
        now = timezone.now()
        book = rulebook()
        current = {}
        for rule in Rule.objects.filter(valid_until__isnull=True, valid_from__lte=now).order_by("purpose"):
            current.setdefault(rule.jurisdiction_id, []).append(
                {"purpose": rule.purpose, "regime": rule.regime, "basis": rule.basis, "valid_from": rule.valid_from})
        data = []
        for jurisdiction in Jurisdiction.objects.order_by("code"):
            regimes = {}
            for purpose in PURPOSES:
                try:
                    rule = book.rule_for(jurisdiction.code, purpose, now)
                except LookupError:  # no rule at all, not even `*`: nothing to report for this purpose
                    continue
                regimes[purpose] = {"regime": rule.regime, "basis": rule.basis,
                                    "rule_jurisdiction": rule.jurisdiction,
                                    "rule_purpose": rule.purpose or ALL_PURPOSES}
            data.append({"code": jurisdiction.code, "name": jurisdiction.name, "parent": jurisdiction.parent_id,
                         "rules": JurisdictionRuleSerializer(current.get(jurisdiction.code, []), many=True).data,
                         "regimes": regimes})
        return Response(data)
