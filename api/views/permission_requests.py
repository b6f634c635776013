"""Permission requests (api.md "Licences and permission requests"): AI developers (API key) file, list, read and
withdraw their organisation's own; holders' users (token or session) list and read those to their holder (and
mandated principals) and accept or decline them. Anyone else's request is a 404."""
from django.utils import translation
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import permissions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.models import RequestState, Scope
from consent.request_services import request_accept, request_decline, request_open, request_withdraw
from consent.selectors import permission_requests_visible_to
from core.errors import NotFound, ValidationFailed, field_error

from ..auth import (
    ALL_METHODS,
    ApiKeyAuthentication,
    HasApiKey,
    IsHolderUser,
    TokenAuthentication,
    _user_is_active,
    api_key_of,
)
from ..fields import AwareDateTimeField, StrictSerializer, query_params
from ..pagination import CursorPagination
from ..parsers import BoundedJSONParser
from ..throttling import ApiKeyRateThrottle, RateLimitHeadersMixin


class IsHolderUserOrApiKey(permissions.BasePermission):
    """Either side of a request: a developer's key (its organisation's requests) or a holder's user."""

    api_key_methods = ALL_METHODS

    def has_permission(self, request, view):
        return api_key_of(request) is not None or _user_is_active(request)


class PermissionRequestCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")


class _HolderRef(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class _OrganisationRef(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class _WorkRef(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    work_ref = serializers.CharField()


@extend_schema_serializer(component_name="RequestLicence")
class _LicenceOut(serializers.Serializer):
    id = serializers.UUIDField()
    scope = serializers.ChoiceField(choices=Scope.choices)
    work = serializers.UUIDField(source="work_id", allow_null=True)
    purposes = serializers.ListField(child=serializers.CharField())
    jurisdictions = serializers.ListField(child=serializers.CharField())
    effective_from = serializers.DateTimeField()
    effective_until = serializers.DateTimeField(allow_null=True)
    license_url = serializers.CharField(allow_blank=True)
    conditions = serializers.CharField(allow_blank=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


@extend_schema_serializer(component_name="PermissionRequest")
class PermissionRequestSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=RequestState.choices)
    organisation = _OrganisationRef(help_text="The asking AI developer's organisation.")
    holder = _HolderRef()
    scope = serializers.ChoiceField(choices=Scope.choices, help_text="`catalogue` when no works were named.")
    works = _WorkRef(many=True, source="works.all")
    purposes = serializers.ListField(child=serializers.CharField())
    jurisdictions = serializers.ListField(child=serializers.CharField())
    effective_from = serializers.DateTimeField(allow_null=True, help_text="null: from acceptance.")
    effective_until = serializers.DateTimeField(allow_null=True)
    message = serializers.CharField(allow_blank=True)
    contact = serializers.EmailField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True, help_text="When accepted, declined or withdrawn.")
    reason = serializers.CharField(allow_blank=True, help_text="Why it was declined.")
    licences = _LicenceOut(many=True, source="licences.all",
                           help_text="Once accepted: the licences filed (one per work, or one for the catalogue).")


def _out(request_obj) -> dict:
    return PermissionRequestSerializer(request_obj).data


class _Base(APIView):
    # The API key last: without credentials the 401 asks for a Token.
    authentication_classes = [TokenAuthentication, SessionAuthentication, ApiKeyAuthentication]
    permission_classes = [IsHolderUserOrApiKey]
    parser_classes = [BoundedJSONParser]

    def visible(self, request):
        api_key = api_key_of(request)
        if api_key is not None:
            return permission_requests_visible_to(organisation_id=api_key.organisation_id)
        return permission_requests_visible_to(user=request.user)

    def one(self, request, id):
        found = self.visible(request).filter(pk=id).first()
        if found is None:
            raise NotFound("No such permission request.")
        return found


class PermissionRequestListApi(RateLimitHeadersMixin, _Base):
    throttle_classes = [ApiKeyRateThrottle]
    pagination_class = PermissionRequestCursorPagination

    class InputSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=RequestState.choices, required=False)
        cursor = serializers.CharField(required=False)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=1000)

    @extend_schema(operation_id="permission_requests_list", summary="Permission requests, newest first",
                   description=("With an API key: your organisation's requests. With a holder's token: the "
                                "requests to your holder and to principals you hold a mandate for."),
                   parameters=[InputSerializer], responses={200: PermissionRequestSerializer(many=True)},
                   tags=["permission requests"])
    def get(self, request):
        query = query_params(self.InputSerializer, request)
        qs = self.visible(request)
        if query.get("state"):
            qs = qs.filter(state=query["state"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(PermissionRequestSerializer(page, many=True).data)


class PermissionRequestCreateApi(RateLimitHeadersMixin, _Base):
    authentication_classes = [ApiKeyAuthentication]  # the developer's act: a holder's token is no credential here
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]

    class InputSerializer(StrictSerializer):
        holder = serializers.CharField(required=False, allow_blank=True, max_length=64,
                                       help_text="The holder's code (or name its works).")
        works = serializers.ListField(child=serializers.CharField(max_length=2100), required=False,
                                      max_length=1000, help_text=(
                                          "Work ids or registered identifiers (`scheme:value`), all of one holder. "
                                          "None: the holder's whole catalogue."))
        purposes = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1, max_length=50)
        jurisdictions = serializers.ListField(child=serializers.CharField(max_length=8), required=False,
                                              max_length=300, help_text="Default: `*`.")
        effective_from = AwareDateTimeField(required=False, allow_null=True, help_text="Default: from acceptance.")
        effective_until = AwareDateTimeField(required=False, allow_null=True)
        message = serializers.CharField(required=False, allow_blank=True, max_length=5000)
        contact = serializers.EmailField(required=False, allow_blank=True, help_text=(
            "Where the decision is mailed. Default: the organisation's contact e-mail."))

    @extend_schema(operation_id="permission_requests_create", summary="Ask a holder for permission",
                   description=("201 with the request (state `open`); the holder's users are told by e-mail. "
                                "One request targets one holder: works of several holders are refused "
                                "(`several-holders`). Per organisation: at most "
                                "KYODAKU_MAX_OPEN_PERMISSION_REQUESTS open (409 `too-many-open-requests`) and "
                                "KYODAKU_PERMISSION_REQUEST_RATE filed per period (429 with Retry-After)."),
                   request=InputSerializer, responses={201: PermissionRequestSerializer},
                   tags=["permission requests"])
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        api_key = api_key_of(request)
        created = request_open(
            organisation=api_key.organisation, api_key_prefix=api_key.prefix, holder=data.get("holder") or None,
            works=data.get("works", []), purposes=data["purposes"], jurisdictions=data.get("jurisdictions", ["*"]),
            effective_from=data.get("effective_from"), effective_until=data.get("effective_until"),
            message=data.get("message", ""), contact=data.get("contact", ""),
            language=translation.get_language_from_request(request._request))
        return Response(_out(self.one(request, created.pk)), status=status.HTTP_201_CREATED)


class PermissionRequestDetailApi(RateLimitHeadersMixin, _Base):
    throttle_classes = [ApiKeyRateThrottle]

    @extend_schema(operation_id="permission_requests_retrieve", summary="A permission request",
                   description="Once decided: the licences filed, or the reason it was declined.",
                   responses={200: PermissionRequestSerializer}, tags=["permission requests"])
    def get(self, request, id):
        query_params(serializers.Serializer, request)
        return Response(_out(self.one(request, id)))


class PermissionRequestAcceptApi(_Base):
    permission_classes = [IsHolderUser]

    class InputSerializer(StrictSerializer):
        license_url = serializers.URLField(required=False, allow_blank=True, max_length=2000,
                                           help_text="The licence's terms.")
        conditions = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
        purposes = serializers.ListField(child=serializers.CharField(max_length=64), required=False, min_length=1,
                                         max_length=50, help_text="Default: as asked. May narrow, never widen.")
        jurisdictions = serializers.ListField(child=serializers.CharField(max_length=8), required=False,
                                              min_length=1, max_length=300,
                                              help_text="Default: as asked. May narrow, never widen.")
        works = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=1000, help_text=(
            "Default: as asked. A subset of the asked works; for a catalogue request, any of the holder's works "
            "(none: the whole catalogue)."))
        effective_from = AwareDateTimeField(required=False, allow_null=True, help_text="Default: as asked, or now.")
        effective_until = AwareDateTimeField(required=False, allow_null=True, help_text="Default: as asked.")

    @extend_schema(operation_id="permission_requests_accept", summary="Accept a request: file its licence",
                   description=("Files the licences (one per work, or one for the catalogue) with your terms, "
                                "in the same transaction. Narrowing purposes, jurisdictions, works or the period "
                                "is allowed; widening is a 400 `widens-request`. 409 if no longer open."),
                   request=InputSerializer, responses={200: PermissionRequestSerializer},
                   tags=["permission requests"])
    def post(self, request, id):
        found = self.one(request, id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        request_accept(request=found, actor=request.user, license_url=data.get("license_url", ""),
                       conditions=data.get("conditions", ""), purposes=data.get("purposes"),
                       jurisdictions=data.get("jurisdictions"), works=data.get("works"),
                       effective_from=data.get("effective_from"), effective_until=data.get("effective_until"))
        return Response(_out(self.one(request, id)))


class PermissionRequestDeclineApi(_Base):
    permission_classes = [IsHolderUser]

    class InputSerializer(StrictSerializer):
        reason = serializers.CharField(max_length=5000, help_text="Told to the developer.")

    @extend_schema(operation_id="permission_requests_decline", summary="Decline a request, with a reason",
                   request=InputSerializer, responses={200: PermissionRequestSerializer},
                   tags=["permission requests"])
    def post(self, request, id):
        found = self.one(request, id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        request_decline(request=found, actor=request.user, reason=serializer.validated_data["reason"])
        return Response(_out(self.one(request, id)))


class PermissionRequestWithdrawApi(_Base):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]

    @extend_schema(operation_id="permission_requests_withdraw", summary="Withdraw your open request",
                   description="409 if it is no longer open.", request=None,
                   responses={200: PermissionRequestSerializer}, tags=["permission requests"])
    def post(self, request, id):
        found = self.one(request, id)
        if request.data:
            raise ValidationFailed("Withdrawing takes no input.",
                                   errors=[field_error(k, "unknown-field", "Unknown field.") for k in request.data]
                                   if isinstance(request.data, dict) else [])
        api_key = api_key_of(request)
        request_withdraw(request=found, organisation=api_key.organisation, api_key_prefix=api_key.prefix)
        return Response(_out(self.one(request, id)))
