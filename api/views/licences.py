"""Licences (api.md "Licences and permission requests"): the two parties' view of the grants between them.

AI developers (API key) list and read the licences naming their organisation; holders' users (token or session)
list and read those of their holder (and mandated principals), file new ones naming the licensee by its
organisation `code`, and revoke them. Superseded and revoked licences stay listed, with their times. Anyone else's
licence is a 404."""
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.licence_services import licence_file, licence_revoke
from consent.models import Scope
from consent.selectors import licences_visible_to
from core.errors import NotFound, ValidationFailed, field_error
from registry.models import Organisation, Work

from ..auth import ApiKeyAuthentication, IsHolderUser, TokenAuthentication, api_key_of
from ..fields import AwareDateTimeField, StrictSerializer, query_params
from ..pagination import CursorPagination
from ..parsers import BoundedJSONParser
from ..throttling import ApiKeyRateThrottle, RateLimitHeadersMixin
from .permission_requests import IsHolderUserOrApiKey, _HolderRef, _WorkRef
from .works import filing_holder


class LicenceCursorPagination(CursorPagination):
    ordering = ("-recorded_at", "-id")


@extend_schema_serializer(component_name="LicenseeRef")
class _OrganisationRef(serializers.Serializer):
    id = serializers.UUIDField()
    code = serializers.CharField(help_text="The organisation's public handle, as `licensee` takes it.")
    name = serializers.CharField()


@extend_schema_serializer(component_name="Licence")
class LicenceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    holder = _HolderRef()
    licensee = _OrganisationRef()
    scope = serializers.ChoiceField(choices=Scope.choices)
    work = _WorkRef(allow_null=True, help_text="The licensed work (scope `work`); null for a catalogue licence.")
    purposes = serializers.ListField(child=serializers.CharField())
    jurisdictions = serializers.ListField(child=serializers.CharField())
    effective_from = serializers.DateTimeField()
    effective_until = serializers.DateTimeField(allow_null=True)
    license_url = serializers.CharField(allow_blank=True)
    conditions = serializers.CharField(allow_blank=True)
    recorded_at = serializers.DateTimeField()
    superseded_at = serializers.DateTimeField(allow_null=True)
    superseded_by = serializers.UUIDField(source="superseded_by_id", allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class _Base(APIView):
    # The API key last: without credentials the 401 asks for a Token.
    authentication_classes = [TokenAuthentication, SessionAuthentication, ApiKeyAuthentication]
    permission_classes = [IsHolderUserOrApiKey]
    parser_classes = [BoundedJSONParser]

    def visible(self, request):
        api_key = api_key_of(request)
        if api_key is not None:
            return licences_visible_to(organisation_id=api_key.organisation_id)
        return licences_visible_to(user=request.user)

    def one(self, request, id):
        found = self.visible(request).filter(pk=id).first()
        if found is None:
            raise NotFound("No such licence.")
        return found


class LicenceListApi(RateLimitHeadersMixin, _Base):
    throttle_classes = [ApiKeyRateThrottle]
    pagination_class = LicenceCursorPagination

    class InputSerializer(serializers.Serializer):
        holder = serializers.SlugField(required=False, max_length=64, help_text="A holder code.")
        licensee = serializers.SlugField(required=False, max_length=64, help_text="An organisation code.")
        work = serializers.UUIDField(required=False, help_text="A work id: that work's own licences.")
        current = serializers.BooleanField(required=False, allow_null=True, default=None, help_text=(
            "true: only licences neither superseded nor revoked; false: only superseded or revoked ones."))
        cursor = serializers.CharField(required=False)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=1000)

    @extend_schema(operation_id="licences_list", summary="Licences, current and past, newest first",
                   description=("With an API key: the licences to your organisation. With a holder's token: the "
                                "licences of your holder and of principals you hold a mandate for. Superseded and "
                                "revoked licences are listed too, with `superseded_at` and `revoked_at`."),
                   parameters=[InputSerializer], responses={200: LicenceSerializer(many=True)}, tags=["licences"])
    def get(self, request):
        query = query_params(self.InputSerializer, request)
        qs = self.visible(request)
        if query.get("holder"):
            qs = qs.filter(holder__code=query["holder"])
        if query.get("licensee"):
            qs = qs.filter(licensee__code=query["licensee"])
        if query.get("work"):
            qs = qs.filter(work_id=query["work"])
        if query.get("current") is not None:
            current = {"superseded_at__isnull": True, "revoked_at__isnull": True}
            qs = qs.filter(**current) if query["current"] else qs.exclude(**current)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(LicenceSerializer(page, many=True).data)


class LicenceFileApi(_Base):
    permission_classes = [IsHolderUser]

    class InputSerializer(StrictSerializer):
        holder = serializers.SlugField(required=False, max_length=64,
                                       help_text="The licensing holder's code; default: your own holder.")
        licensee = serializers.SlugField(max_length=64, help_text="The licensee organisation's `code`.")
        scope = serializers.ChoiceField(choices=Scope.choices, required=False, default=Scope.WORK)
        work = serializers.UUIDField(required=False, allow_null=True, help_text="The work, for scope `work`.")
        purposes = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1, max_length=50)
        jurisdictions = serializers.ListField(child=serializers.CharField(max_length=8), required=False,
                                              min_length=1, max_length=300, help_text="Default: `*`.")
        license_url = serializers.URLField(required=False, allow_blank=True, max_length=2000,
                                           help_text="The licence's terms.")
        conditions = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
        effective_from = AwareDateTimeField(required=False, allow_null=True, help_text="Default: now.")
        effective_until = AwareDateTimeField(required=False, allow_null=True)

    @extend_schema(operation_id="licences_file", summary="License a work or your catalogue to one organisation",
                   description=("201 with the licence. A current licence in the same slot (holder, licensee, "
                                "scope, work) is superseded by it. The licensee is named by its organisation "
                                "`code`; an unknown one is a 400 `not-found`."),
                   request=InputSerializer, responses={201: LicenceSerializer}, tags=["licences"])
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        holder, _agent = filing_holder(request, data.get("holder"))
        errors = []
        licensee = Organisation.objects.filter(code=data["licensee"]).first()
        if licensee is None:
            errors.append(field_error("licensee", "not-found", "No organisation with this code."))
        work = None
        if data.get("work"):
            work = Work.objects.filter(pk=data["work"], holder=holder).first()
            if work is None:
                errors.append(field_error("work", "not-found", "No such work of this holder."))
        if errors:
            raise ValidationFailed("The licence is not valid.", errors=errors)
        licence = licence_file(
            holder=holder, licensee=licensee, scope=data["scope"], work=work, purposes=data["purposes"],
            jurisdictions=data.get("jurisdictions", ["*"]), license_url=data.get("license_url", ""),
            conditions=data.get("conditions", ""), effective_from=data.get("effective_from"),
            effective_until=data.get("effective_until"), actor=request.user)
        return Response(LicenceSerializer(self.one(request, licence.pk)).data, status=status.HTTP_201_CREATED)


class LicenceDetailApi(RateLimitHeadersMixin, _Base):
    throttle_classes = [ApiKeyRateThrottle]

    @extend_schema(operation_id="licences_retrieve", summary="A licence (superseded and revoked ones too)",
                   responses={200: LicenceSerializer}, tags=["licences"])
    def get(self, request, id):
        query_params(serializers.Serializer, request)
        return Response(LicenceSerializer(self.one(request, id)).data)


class LicenceRevokeApi(_Base):
    permission_classes = [IsHolderUser]

    @extend_schema(operation_id="licences_revoke", summary="Revoke a licence in force",
                   description=("Ends it now; it stays readable to both parties, with `revoked_at`. 409 if it was "
                                "superseded or already revoked; 403 `read-only-role` for a viewer."),
                   request=None, responses={200: LicenceSerializer}, tags=["licences"])
    def post(self, request, id):
        licence = self.one(request, id)
        if request.data:
            raise ValidationFailed("Revoking takes no input.",
                                   errors=[field_error(k, "unknown-field", "Unknown field.") for k in request.data]
                                   if isinstance(request.data, dict) else [])
        licence_revoke(licence=licence, actor=request.user)  # checks the user may file for its holder
        return Response(LicenceSerializer(self.one(request, id)).data)
