"""Declarations: append-only. Filed (201, or 200 when identical to the one in force), revoked, read; never edited."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.models import Scope
from consent.selectors import declarations_filter, declarations_visible_to
from consent.services import declaration_file, declaration_revoke
from core.errors import NotFound, ValidationFailed, field_error
from registry.models import Work

from ..auth import (
    ApiKeyAuthentication,
    IsHolderUser,
    IsHolderUserOrReadOnlyApiKey,
    TokenAuthentication,
    api_key_of,
)
from ..fields import AwareDateTimeField, StrictSerializer, query_params
from ..pagination import DeclarationCursorPagination
from ..parsers import BoundedJSONParser
from ..serializers import DeclarationPublicSerializer, DeclarationSerializer
from ..throttling import ApiKeyRateThrottle, RateLimitHeadersMixin
from .works import filing_holder


class _DeclarationsBase(APIView):
    # The API key last: without credentials the 401 asks for a Token; a key is told what it may do here (403).
    authentication_classes = [TokenAuthentication, SessionAuthentication, ApiKeyAuthentication]
    permission_classes = [IsHolderUser]
    parser_classes = [BoundedJSONParser]

    def _visible(self, request, id):
        declaration = declarations_visible_to(user=request.user, api_key=api_key_of(request)).filter(pk=id).first()
        if declaration is None:
            raise NotFound("No such declaration.")
        return declaration


class DeclarationListApi(_DeclarationsBase):
    class InputSerializer(serializers.Serializer):
        holder = serializers.SlugField(required=False, max_length=64, help_text="A holder code.")
        work = serializers.UUIDField(required=False, help_text="A work id: that work's own declarations.")
        cursor = serializers.CharField(required=False)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=1000)

    pagination_class = DeclarationCursorPagination  # read by the schema generator; get() pages explicitly

    @extend_schema(operation_id="declarations_list", summary="Declarations, current and past",
                   parameters=[InputSerializer], responses={200: DeclarationSerializer(many=True)},
                   tags=["declarations"])
    def get(self, request):
        query = query_params(self.InputSerializer, request)
        qs = declarations_filter(declarations=declarations_visible_to(user=request.user),
                                 holder=query.get("holder", ""), work=query.get("work"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(DeclarationSerializer(page, many=True).data)


class DeclarationFileApi(_DeclarationsBase):
    class InputSerializer(StrictSerializer):
        holder = serializers.SlugField(required=False, max_length=64,
                                       help_text="The owner's code; default: your own holder.")
        scope = serializers.ChoiceField(choices=Scope.choices)
        work = serializers.UUIDField(required=False, allow_null=True, help_text="The work, for scope `work`.")
        purpose = serializers.CharField(max_length=64, help_text="A purpose code (see /api/v1/purposes).")
        jurisdiction = serializers.CharField(required=False, default="*", max_length=8,
                                             help_text="ISO 3166-1 alpha-2, `EU` or `*` (default).")
        consent = serializers.CharField(max_length=16,
                                        help_text="`grant` or `reserve` (`opt-in` = grant, `opt-out` = reserve).")
        license_url = serializers.URLField(required=False, allow_blank=True, max_length=2000,
                                           help_text="Where to ask for permission or a licence.")
        conditions = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
        effective_from = AwareDateTimeField(required=False, allow_null=True, help_text="Default: now.")
        effective_until = AwareDateTimeField(required=False, allow_null=True)

    @extend_schema(operation_id="declarations_file", summary="File a declaration",
                   description=("201 with the new declaration, which supersedes the one in force in the same slot "
                                "(holder, scope, work, purpose, jurisdiction). Filing one identical to the one in "
                                "force creates nothing: 200 with the existing one."),
                   request=InputSerializer,
                   responses={201: DeclarationSerializer, 200: DeclarationSerializer}, tags=["declarations"])
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        holder, agent = filing_holder(request, data.get("holder"))
        work = None
        if data.get("work"):
            work = Work.objects.filter(pk=data["work"], holder=holder).first()
            if work is None:
                raise ValidationFailed("The work is not valid.",
                                       errors=[field_error("work", "not-found", "No such work of this holder.")])
        declaration, created = declaration_file(
            holder=holder, scope=data["scope"], work=work, purpose=data["purpose"],
            jurisdiction=data["jurisdiction"], consent=data["consent"], license_url=data.get("license_url", ""),
            conditions=data.get("conditions", ""), effective_from=data.get("effective_from"),
            effective_until=data.get("effective_until"), actor=request.user, agent=agent,
        )
        declaration = declarations_visible_to(user=request.user).get(pk=declaration.pk)
        return Response(DeclarationSerializer(declaration).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class DeclarationDetailApi(RateLimitHeadersMixin, _DeclarationsBase):
    permission_classes = [IsHolderUserOrReadOnlyApiKey]
    throttle_classes = [ApiKeyRateThrottle]

    @extend_schema(operation_id="declarations_retrieve", summary="A declaration (superseded and revoked ones too)",
                   description=("Holders' users read their own holder's declarations (and their mandated "
                                "principals'). An API key reads any declaration, e.g. the one a lookup answer or a "
                                "receipt names, with its public fields only: no `filed_by_agent`."),
                   responses={200: DeclarationSerializer}, tags=["declarations"])
    def get(self, request, id):
        query_params(serializers.Serializer, request)
        declaration = self._visible(request, id)
        if api_key_of(request) is not None:
            return Response(DeclarationPublicSerializer(declaration).data)
        return Response(DeclarationSerializer(declaration).data)


class DeclarationRevokeApi(_DeclarationsBase):
    @extend_schema(operation_id="declarations_revoke", summary="Revoke a declaration in force",
                   description="Ends it now; it stays readable, with `revoked_at`. 409 if it is no longer in force.",
                   request=None, responses={200: DeclarationSerializer}, tags=["declarations"])
    def post(self, request, id):
        declaration = self._visible(request, id)
        if request.data:
            raise ValidationFailed("Revoking takes no input.",
                                   errors=[field_error(k, "unknown-field", "Unknown field.") for k in request.data]
                                   if isinstance(request.data, dict) else [])
        declaration_revoke(declaration=declaration, actor=request.user)  # checks the user may file for its holder
        return Response(DeclarationSerializer(self._visible(request, id)).data)

