"""The versioned map between Kyodaku's purposes and the vocabularies others publish in (interop.md, "Vocabularies")."""
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response

from consent.vocabulary import VOCABULARIES

from ..fields import query_params
from .reference import NoQuery, _Public


class VocabularyTermSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The term as the vocabulary spells it.")
    meaning = serializers.CharField()
    purposes = serializers.ListField(child=serializers.CharField(),
                                     help_text="Read: the Kyodaku purpose(s) this term stands for.")
    written_from = serializers.ListField(
        child=serializers.CharField(),
        help_text="Written: the Kyodaku purposes whose declarations decide this term (the nearest in the chain).")
    note = serializers.CharField(allow_blank=True)


class VocabularyListApi(_Public):
    @extend_schema_serializer(component_name="Vocabulary")
    class OutputSerializer(serializers.Serializer):
        key = serializers.CharField(help_text="Kyodaku's name for this vocabulary at this version (imports use it).")
        name = serializers.CharField()
        version = serializers.CharField()
        source = serializers.URLField()
        values = serializers.DictField(child=serializers.CharField(),
                                       help_text="Read: external value -> `grant` or `reserve`.")
        written_values = serializers.DictField(child=serializers.CharField(),
                                               help_text="Written: `grant` / `reserve` -> external value.")
        terms = VocabularyTermSerializer(many=True)
        note = serializers.CharField(allow_blank=True)

    @extend_schema(operation_id="vocabularies_list", summary="How Kyodaku's purposes map to other vocabularies",
                   description=("Every external vocabulary Kyodaku reads or writes, with its version and source, "
                                "and for each term the Kyodaku purposes it maps to in each direction. When "
                                "reading, a reservation wins over a grant for the same purpose; a term without a "
                                "purpose here is reported as ignored."),
                   responses={200: OutputSerializer(many=True)}, tags=["reference"])
    def get(self, request):
        query_params(NoQuery, request)
        data = [
            {"key": v.key, "name": v.name, "version": v.version, "source": v.source, "values": v.values,
             "written_values": v.written_values, "note": v.note,
             "terms": [{"token": t.token, "meaning": t.meaning, "purposes": list(t.purposes),
                        "written_from": list(t.written_from), "note": t.note} for t in v.terms]}
            for v in VOCABULARIES
        ]
        return Response(data)
