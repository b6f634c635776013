"""Works: rights holders list, register (idempotent by work_ref), read and amend; API keys may search them.

One view per operation; `api.routing.by_method` puts two of them on one URL (api/routes/core.py)."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.selectors import work_declarations_in_force
from core.errors import NotFound, ValidationFailed, field_error
from registry.identifiers import InvalidIdentifier, parse_identifier
from registry.models import Work, WorkKind
from registry.selectors import default_holder_code, holder_for_filing, work_get, works_filter, works_readable
from registry.services import work_register

from ..auth import ApiKeyAuthentication, IsHolderUserOrReadOnlyApiKey, TokenAuthentication, api_key_of
from ..fields import StrictSerializer, query_params
from ..pagination import WorkCursorPagination
from ..parsers import BoundedJSONParser
from ..serializers import (
    WorkDetailPublicSerializer,
    WorkDetailSerializer,
    WorkPublicSerializer,
    WorkSerializer,
    WorkWriteResultSerializer,
)
from ..throttling import ApiKeyRateThrottle, RateLimitHeadersMixin


def filing_holder(request, code: str | None):
    """The holder named in the input (default: the user's own) and the collective filing for it, if any."""
    code = code or default_holder_code(request.user)
    if not code:
        raise ValidationFailed("Name the holder you file for.",
                               errors=[field_error("holder", "required", "A holder code is required.")])
    return holder_for_filing(user=request.user, code=code)


def _with_declarations(work: Work) -> Work:
    """`work` with the `declarations_in_force` its output lists."""
    work.declarations_in_force = work_declarations_in_force(work=work)
    return work


def _write_result(registration) -> dict:
    work = _with_declarations(work_get(pk=registration.work.pk))
    work.reported_disputes = [{"id": d.pk, "identifier": f"{d.scheme}:{d.value}",
                      "status": "open" if d.resolved_at is None else "resolved"} for d in registration.disputes]
    return WorkWriteResultSerializer(work).data


class _WorksBase(RateLimitHeadersMixin, APIView):
    permission_classes = [IsHolderUserOrReadOnlyApiKey]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [BoundedJSONParser]

    # Token first: an unauthenticated request is told `WWW-Authenticate: Token` with its 401.
    authentication_classes = [TokenAuthentication, ApiKeyAuthentication, SessionAuthentication]


class WorkListApi(_WorksBase):
    class InputSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, allow_blank=True, max_length=200,
                                  help_text="Words of the title or original title, or an exact work_ref.")
        identifier = serializers.CharField(required=False, max_length=8192, help_text=(
            "`scheme:value`, exact match; the scheme may be left out for an http(s) URL, ISBN, DOI, SHA-256 or ISCC."))
        holder = serializers.SlugField(required=False, max_length=64, help_text="A holder code.")
        cursor = serializers.CharField(required=False, help_text="From `next` / `previous`.")
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=1000)

    pagination_class = WorkCursorPagination  # read by the schema generator; get() pages explicitly

    @extend_schema(operation_id="works_list", summary="List or search works",
                   description=("Holders' users see their own works and their mandated principals'; an API key "
                                "searches every registered work (read-only)."),
                   parameters=[InputSerializer], responses={200: WorkSerializer(many=True)}, tags=["works"])
    def get(self, request):
        query = query_params(self.InputSerializer, request)
        identifier = None
        if query.get("identifier"):
            try:
                identifier = parse_identifier(query["identifier"])
            except InvalidIdentifier as exc:
                raise ValidationFailed("The identifier is not valid.",
                                       errors=[field_error("identifier", exc.code, exc.detail)]) from None
        qs = works_filter(works=works_readable(user=request.user, api_key=api_key_of(request)),
                          q=query.get("q", ""), identifier=identifier, holder=query.get("holder", ""))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        serializer = WorkPublicSerializer if api_key_of(request) is not None else WorkSerializer
        return paginator.get_paginated_response(serializer(page, many=True).data)


class WorkCreateApi(_WorksBase):
    class InputSerializer(StrictSerializer):
        holder = serializers.SlugField(required=False, max_length=64,
                                       help_text="The owner's code; default: your own holder.")
        work_ref = serializers.CharField(max_length=200, help_text="Your catalogue number: the key for re-filing.")
        title = serializers.CharField(required=False, max_length=1000, help_text="Required for a new work.")
        original_title = serializers.CharField(required=False, allow_blank=True, max_length=1000)
        kind = serializers.ChoiceField(required=False, choices=WorkKind.choices)
        identifiers = serializers.ListField(child=serializers.CharField(max_length=8192), required=False,
                                            max_length=1000,
                                            help_text="`scheme:value` items (the scheme may be left out when "
                                                      "unambiguous: http(s) URL, ISBN, DOI, SHA-256, ISCC).")

    @extend_schema(operation_id="works_register", summary="Register a work, or update it by work_ref",
                   description=("201 with the new work; re-posting the same `work_ref` for the same holder updates "
                                "that work (200). An identifier registered to another holder's work is not moved: "
                                "it opens a dispute, listed in `disputes`."),
                   request=InputSerializer,
                   responses={201: WorkWriteResultSerializer, 200: WorkWriteResultSerializer}, tags=["works"])
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        holder, agent = filing_holder(request, data.get("holder"))
        registration = work_register(
            holder=holder, work_ref=data["work_ref"], title=data.get("title"), kind=data.get("kind"),
            original_title=data.get("original_title"), identifiers=data.get("identifiers", ()),
            actor=request.user, agent=agent,
        )
        return Response(_write_result(registration),
                        status=status.HTTP_201_CREATED if registration.created else status.HTTP_200_OK)


class _OneWorkBase(_WorksBase):
    def _visible_work(self, request, id) -> Work:
        work = works_readable(user=request.user, api_key=api_key_of(request)).filter(pk=id).first()
        if work is None:
            raise NotFound("No such work.")
        return work


class WorkDetailApi(_OneWorkBase):
    @extend_schema(operation_id="works_retrieve", summary="A work with its identifiers and declarations in force",
                   responses={200: WorkDetailSerializer}, tags=["works"])
    def get(self, request, id):
        query_params(serializers.Serializer, request)
        serializer = WorkDetailPublicSerializer if api_key_of(request) is not None else WorkDetailSerializer
        return Response(serializer(_with_declarations(self._visible_work(request, id))).data)


class WorkUpdateApi(_OneWorkBase):
    class InputSerializer(StrictSerializer):
        title = serializers.CharField(required=False, max_length=1000)
        original_title = serializers.CharField(required=False, allow_blank=True, max_length=1000)
        kind = serializers.ChoiceField(required=False, choices=WorkKind.choices)
        identifiers = serializers.ListField(child=serializers.CharField(max_length=8192), required=False,
                                            max_length=1000, help_text="Identifiers to add (none is removed).")

    @extend_schema(operation_id="works_update", summary="Amend a work (title, kind, more identifiers)",
                   request=InputSerializer, responses={200: WorkWriteResultSerializer}, tags=["works"])
    def patch(self, request, id):
        work = self._visible_work(request, id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        holder, agent = holder_for_filing(user=request.user, code=work.holder.code)
        registration = work_register(
            holder=holder, work_ref=work.work_ref, title=data.get("title"), kind=data.get("kind"),
            original_title=data.get("original_title"), identifiers=data.get("identifiers", ()),
            actor=request.user, agent=agent,
        )
        return Response(_write_result(registration))
